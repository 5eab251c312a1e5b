"""sellerguard: warns online sellers before a marketplace suspends or delists them."""

__version__ = "0.1.0"
