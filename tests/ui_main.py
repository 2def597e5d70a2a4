"""The app NiceGUI's simulated `User` fixture loads for each test: `create_app` with the
settings from the environment the UI tests set (see tests/test_ui_*.py)."""

from jobplatform.config import load_settings
from jobplatform.web import create_app

create_app(load_settings())
