"""The app the `user` fixture (tests/ui/conftest.py) loads for each test: `create_app` with
the settings that fixture's `ui_env` puts in the environment."""

from jobplatform.config import load_settings
from jobplatform.web import create_app

create_app(load_settings())
