"""What every newsflow service shares: settings, names, schemas, broker, telemetry."""
