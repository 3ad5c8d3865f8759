"""The clinic's web chat page (aiohttp): `carenav web`."""
