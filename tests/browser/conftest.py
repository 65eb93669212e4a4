"""Headless Chromium for the report page tests (Debian's chromium and chromium-driver, selenium from PyPI).

`make browser` installs the two Debian packages; without them these tests
fail, saying what to install, rather than pass without a browser.
"""

from __future__ import annotations

import shutil
import tempfile

import pytest

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
# The machine's network is closed, and the page must not need it: nothing
# that phones home, a fresh profile every run.
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--window-size=1400,1000', '--hide-scrollbars', '--force-device-scale-factor=1')


@pytest.fixture(scope='session')
def browser():
    """One Chromium for the whole session."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path, package in ((CHROMIUM, 'chromium'), (CHROMEDRIVER, 'chromium-driver')):
        if not shutil.which(path):
            pytest.fail('%s is missing: make browser installs Debian\'s %s' % (path, package))
    profile = tempfile.mkdtemp(prefix='harden-tcp-chromium-')
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + ('--user-data-dir=' + profile,):
        options.add_argument(flag)
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
