# The competition plugin itself comes through the `pytest11` entry point; the
# project's own fixture modules are registered here.
pytest_plugins = ["fixtures.data", "fixtures.models"]
