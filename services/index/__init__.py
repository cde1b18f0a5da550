"""index: store extracted articles in the search index and announce them on `newsflow:indexed`."""
