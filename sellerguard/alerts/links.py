"""Where a seller acts: the marketplace's own seller page, linked from every alert.

These are the portals' entry pages. UNCONFIRMED: the deep paths (Amazon's Account Health dashboard, Etsy's shop
dashboard) were not checked against live portals; a seller can set ``seller_page = "https://..."`` per account in
the config to override. Nothing here is ever fetched, only linked.
"""

from __future__ import annotations

_AMAZON_HOSTS = {
    "na": "sellercentral.amazon.com",
    "eu": "sellercentral-europe.amazon.com",
    "fe": "sellercentral.amazon.co.jp",
}

SELLER_PAGES = {
    "ebay": "https://www.ebay.com/sh/ovw",
    "walmart": "https://seller.walmart.com/",
    "etsy": "https://www.etsy.com/your/shops/me/dashboard",
    "tiktok": "https://seller-us.tiktok.com/",
    "mercadolibre": "https://www.mercadolibre.com/",
    "bol": "https://partner.bol.com/",
    "shopify": "https://admin.shopify.com/",
}


def seller_page(marketplace: str, region: str | None = None, override: str | None = None) -> str | None:
    if override:
        return override
    if marketplace == "amazon":
        host = _AMAZON_HOSTS.get((region or "na").lower(), _AMAZON_HOSTS["na"])
        return f"https://{host}/performance/dashboard"
    return SELLER_PAGES.get(marketplace)
