"""The browser fixtures of test_browser.py, shared with the other browser test modules."""

from tests.web.test_browser import browser, web_server  # noqa: F401
