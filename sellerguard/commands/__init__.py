"""One module per CLI subcommand, found by ``sellerguard.cli.SellerguardGroup`` without importing the others.

A module ``<name>.py`` here defines ``command``, a click command or group; its name on the command line is ``<name>``
with underscores as hyphens. Keep module-level imports light (click and ``sellerguard.cli`` only): import the core
inside the command's body, so ``sellerguard --help`` stays fast (tests/test_startup.py).
"""
