"""Settings for the suite: production's, with a fast password hasher.

Hashing with PBKDF2 on every user a fixture creates and every sign-in a test
makes was most of the suite's time; MD5 is unsafe and fine for test data.
"""

from pqlsite.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
