"""What the tests share that is not a test: drivers for the running app (DevStack), builders of
vendor payloads and constructed documents, and queries for assertions. Fixtures live in the
conftest.py files; a test module imports helpers from here, never from another test module."""
