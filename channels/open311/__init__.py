"""Open311 GeoReport v2: partner apps file requests and follow public cases (README.md)."""
