"""newsflow services: the API and the four pipeline stages."""
