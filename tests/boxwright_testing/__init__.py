"""The helpers shared by boxwright's test packages, loaded as a pytest plugin.

``pyproject.toml`` puts ``tests/`` on the import path (pytest's ``pythonpath`` option) and
``tests/conftest.py`` lists the modules that hold fixtures in ``pytest_plugins``, so a test
imports a helper by its package name (``from boxwright_testing.users import as_user``) and asks
for a shared fixture by parameter name, from any folder. A helper used by one test folder only
stays beside its tests.

* :mod:`.users`: a throw-away unprivileged account and forked runs as that user;
* :mod:`.fuzz`: the strategies and the one property of the fuzz tests;
* :mod:`.builds`: a busybox base image (fixtures ``base_layout``, ``bstore``) and build helpers;
* :mod:`.store_images`: small OCI images written byte for byte, and forked store workers;
* :mod:`.rootfs`: layers and snapshots for the root file system tests;
* :mod:`.registry_servers`: Debian's docker-registry started in each setup the tests need;
* :mod:`.runtime`: image configs, forked runs and a glibc root file system for the runtimes.
"""
