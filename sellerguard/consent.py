"""How each marketplace lets a seller authorize sellerguard: the data ``init``, ``connect`` and ``check`` share.

One ``Provider`` per marketplace: the credentials an account needs and where the seller gets them, the grant
(``code``: an authorization-code consent in the browser; ``client_credentials``: nothing to consent, the app's own
id and secret are the authorization), the authorize and token endpoints (the real hosts, or ``base_url`` + the
marketplace's own path when the account points at a test host such as the loopback sandbox), whether PKCE is
used, the scopes each stream needs, and how long the resulting credential lives.

Sources: each marketplace's authorization page, named in ``Provider.docs``; the lifetimes are the documented ones
(eBay ~18 months, Etsy 90 days, Mercado Libre 6 months, Amazon's authorization 365 days, TikTok from the reply).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sellerguard.config import AccountConfig
from sellerguard.errors import ConfigError

# connector-state keys written by ``connect`` (sealed like every state value): never a token, only facts about it
STATE_CONNECTED = "oauth:connected_at"  # ISO time of the consent
STATE_SCOPES = "oauth:scopes"  # granted scopes, space-separated, as the marketplace reported them
STATE_EXPIRES = "oauth:expires_at"  # ISO time the credential (refresh token or authorization) runs out
EXPIRY_WARN_DAYS = 30  # `check`, `status` and the alert warn this long before a credential runs out


@dataclass(frozen=True)
class Provider:
    marketplace: str
    name: str  # how the seller knows it
    grant: str  # "code" | "client_credentials"
    credentials: tuple[str, ...]  # credential names the account needs before `connect` (app credentials)
    produces: str | None  # the credential `connect` obtains and stores: "refresh_token" | "access_token"
    where: str  # where the seller gets the app credentials
    docs: str  # the marketplace's own authorization page
    client_id_key: str = "client_id"
    client_secret_key: str | None = "client_secret"
    auth_method: str = "client_secret_post"  # how the token endpoint takes the client: basic | post | none
    pkce: bool = False
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # stream -> scopes it needs
    scope_sep: str = " "
    lifetime_days: int | None = None  # the produced credential's life when the reply does not say
    rotates: bool = False  # a refresh gives a new refresh token with a new lifetime
    regions: tuple[str, ...] = ()  # accepted `region` values ("" = any); the first is the default
    region_note: str = ""
    example_credentials: dict[str, str] = field(default_factory=dict)

    @property
    def all_scopes(self) -> list[str]:
        seen: dict[str, None] = {}
        for scopes in self.scopes.values():
            seen.update(dict.fromkeys(scopes))
        return list(seen)


_EBAY = "https://api.ebay.com/oauth/api_scope/"
EBAY_SITES = {  # region -> (X-EBAY-C-MARKETPLACE-ID, seller standards program)
    "EBAY_US": ("EBAY_US", "PROGRAM_US"), "EBAY_GB": ("EBAY_GB", "PROGRAM_UK"), "EBAY_UK": ("EBAY_GB", "PROGRAM_UK"),
    "EBAY_DE": ("EBAY_DE", "PROGRAM_DE"), "EBAY_MOTORS_US": ("EBAY_MOTORS_US", "PROGRAM_US"),
    "EBAY_AU": ("EBAY_AU", "PROGRAM_GLOBAL"), "EBAY_CA": ("EBAY_CA", "PROGRAM_GLOBAL"),
    "EBAY_FR": ("EBAY_FR", "PROGRAM_GLOBAL"), "EBAY_IT": ("EBAY_IT", "PROGRAM_GLOBAL"),
    "EBAY_ES": ("EBAY_ES", "PROGRAM_GLOBAL"),
    # eBay's programs cover more sites than their home country: "UK: UK and Ireland; German: Germany, Austria and
    # Switzerland" (ebay.com.au / ebay.at help id=4351); the ids are eBay's MarketplaceIdEnum values
    "EBAY_AT": ("EBAY_AT", "PROGRAM_DE"), "EBAY_CH": ("EBAY_CH", "PROGRAM_DE"), "EBAY_IE": ("EBAY_IE", "PROGRAM_UK"),
}
ML_SITES = {  # site -> the authorization host of that country (the API host is one for all)
    "MLA": "auth.mercadolibre.com.ar", "MLB": "auth.mercadolivre.com.br", "MLM": "auth.mercadolibre.com.mx",
    "MLC": "auth.mercadolibre.cl", "MCO": "auth.mercadolibre.com.co", "MLU": "auth.mercadolibre.com.uy",
    "MPE": "auth.mercadolibre.com.pe",
}
TIKTOK_MARKETS = ("US", "GB", "DE", "FR", "ES", "IT", "IE", "MX", "BR", "JP", "ID", "MY", "PH", "SG", "TH", "VN")
AMAZON_CONSENT = {"na": "sellercentral.amazon.com", "eu": "sellercentral-europe.amazon.com",
                  "fe": "sellercentral.amazon.co.jp"}

PROVIDERS: dict[str, Provider] = {p.marketplace: p for p in (
    Provider(
        "amazon", "Amazon Selling Partner API", "code", ("application_id", "client_id", "client_secret"),
        "refresh_token",
        where="Seller Central > Apps and Services > Develop Apps: the app's App ID (amzn1.sp.solution...), and its"
              " LWA client id and client secret (View credentials)",
        docs="https://developer-docs.amazon.com/sp-api/docs/website-authorization-workflow",
        scopes={"orders": ("role:Inventory and Order Tracking",),
                "performance": ("role:Selling Partner Insights",),
                "feedback": ("role:Selling Partner Insights",)},
        lifetime_days=365, regions=("na", "eu", "fe"),
        region_note="na | eu | fe: the SP-API region (and Seller Central consent host)",
        example_credentials={"application_id": "env:SP_APP_ID", "client_id": "env:SP_LWA_CLIENT_ID",
                             "client_secret": "env:SP_LWA_CLIENT_SECRET"},
    ),
    Provider(
        "ebay", "eBay", "code", ("client_id", "client_secret"), "refresh_token",
        where="developer.ebay.com > Application Keys: the production App ID (client id) and Cert ID (client"
              " secret); User Tokens > your RuName (redirect URL name) for ru_name",
        docs="https://developer.ebay.com/api-docs/static/oauth-authorization-code-grant.html",
        auth_method="client_secret_basic",
        scopes={"orders": (f"{_EBAY}sell.fulfillment.readonly",), "returns": (f"{_EBAY}sell.fulfillment.readonly",),
                "cases": (f"{_EBAY}sell.fulfillment.readonly",), "standards": (f"{_EBAY}sell.analytics.readonly",),
                "feedback": (f"{_EBAY}commerce.feedback.readonly", f"{_EBAY}commerce.identity.readonly"),
                "messages": (f"{_EBAY}commerce.message", f"{_EBAY}commerce.identity.readonly")},
        lifetime_days=548, regions=tuple(EBAY_SITES),
        region_note="the eBay site you sell on: " + " | ".join(s for s in EBAY_SITES if s != "EBAY_UK")
                    + " (decides the marketplace id and the seller standards program)",
        example_credentials={"client_id": "env:EBAY_CLIENT_ID", "client_secret": "env:EBAY_CLIENT_SECRET",
                             "ru_name": "env:EBAY_RU_NAME"},
    ),
    Provider(
        "walmart", "Walmart Marketplace", "client_credentials", ("client_id", "client_secret"), None,
        where="Seller Center > Settings > API Key Management (Developer Portal): client id and client secret",
        docs="https://developer.walmart.com/us-marketplace/docs/get-an-access-token",
        regions=("US",), region_note="US only (the Marketplace API this connector reads)",
        example_credentials={"client_id": "env:WALMART_CLIENT_ID", "client_secret": "env:WALMART_CLIENT_SECRET"},
    ),
    Provider(
        "etsy", "Etsy", "code", ("keystring", "shared_secret"), "refresh_token",
        where="etsy.com/developers/your-apps: the app's keystring and shared secret; add the redirect URL that"
              " `sellerguard connect` prints to the app's callback URLs",
        docs="https://developers.etsy.com/documentation/essentials/authentication",
        client_id_key="keystring", client_secret_key=None, auth_method="none", pkce=True,
        scopes={"receipts": ("transactions_r", "shops_r"), "reviews": ("shops_r",)},
        lifetime_days=90, rotates=True, regions=("",), region_note="not used: one Etsy API for every country",
        example_credentials={"keystring": "env:ETSY_KEYSTRING", "shared_secret": "env:ETSY_SHARED_SECRET"},
    ),
    Provider(
        "tiktok", "TikTok Shop", "code", ("app_key", "app_secret", "service_id"), "refresh_token",
        where="Partner Center (partner.us.tiktokshop.com for US shops, partner.tiktokshop.com elsewhere) > App:"
              " app key, app secret and the service id of its authorization link; add the API packages Order,"
              " Fulfillment, Return and Refund (and Customer Service for options.performance)",
        docs="https://partner.tiktokshop.com/docv2/page/authorization-overview",
        client_id_key="app_key", client_secret_key="app_secret",
        scopes={"orders": ("seller.order.info",), "cancellations": ("seller.return_refund.basic",),
                "returns": ("seller.return_refund.basic",), "reviews": ("seller.order.info",),
                "performance": ("seller.customer_service",)},
        rotates=True, lifetime_days=365, regions=TIKTOK_MARKETS,
        region_note="the shop's market: US, GB (the UK), or another TikTok Shop market (DE, FR, ES, IT, IE, MX, BR,"
                    " JP, ID, MY, PH, SG, TH, VN); decides the authorization page and what counts as a dispatch",
        example_credentials={"app_key": "env:TTS_APP_KEY", "app_secret": "env:TTS_APP_SECRET",
                             "service_id": "env:TTS_SERVICE_ID"},
    ),
    Provider(
        "mercadolibre", "Mercado Libre", "code", ("client_id", "client_secret"), "refresh_token",
        where="developers.mercadolibre.com (your country's DevCenter) > My applications: App ID (client id) and"
              " secret key; scopes read and offline_access; the redirect URI `sellerguard connect` prints",
        docs="https://developers.mercadolibre.com.ar/en_us/authentication-and-authorization",
        pkce=True, scopes={s: ("read", "offline_access") for s in ("orders", "claims", "messages", "reputation")},
        lifetime_days=180, rotates=True, regions=tuple(ML_SITES),
        region_note="the site: " + " | ".join(ML_SITES) + " (decides the limits and the authorization page)",
        example_credentials={"client_id": "env:MELI_CLIENT_ID", "client_secret": "env:MELI_CLIENT_SECRET"},
    ),
    Provider(
        "bol", "bol.com", "client_credentials", ("client_id", "client_secret"), None,
        where="bol.com seller dashboard > Settings > API settings (Retailer API): client id and secret",
        docs="https://api.bol.com/retailer/public/Retailer-API/authentication.html",
        regions=("NL", "BE"), region_note="NL | BE: the country whose holidays count for reply deadlines",
        example_credentials={"client_id": "env:BOL_CLIENT_ID", "client_secret": "env:BOL_CLIENT_SECRET"},
    ),
    Provider(
        "shopify", "Shopify (your own store)", "code", ("client_id", "client_secret"), "access_token",
        where="Shopify Dev Dashboard (or Partners) > Apps > your app > Settings: client id and secret; allowed"
              " redirection URL: the one `sellerguard connect` prints; options.shop = your-store",
        docs="https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant",
        scopes={"orders": ("read_orders", "read_all_orders", "read_merchant_managed_fulfillment_orders"),
                "disputes": ("read_shopify_payments_disputes",)},
        scope_sep=",", regions=("",), region_note="not used",
        example_credentials={"client_id": "env:SHOPIFY_CLIENT_ID", "client_secret": "env:SHOPIFY_CLIENT_SECRET"},
    ),
)}


def provider(marketplace: str) -> Provider:
    found = PROVIDERS.get(marketplace)
    if found is None:
        raise ConfigError(f"unknown marketplace '{marketplace}'{did_you_mean(marketplace, PROVIDERS)}"
                          f" (known: {', '.join(sorted(PROVIDERS))})", where="marketplace")
    return found


def did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean 'amazon'?)`` for the closest of ``choices``, or ``""`` (difflib, cutoff 0.6)."""
    import difflib

    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# -- endpoints -----------------------------------------------------------------------------------------------


def _site(acc: AccountConfig, p: Provider) -> str:
    """The account's region/site, checked against the marketplace's list (refused by name, never ignored)."""
    value = (acc.region or p.regions[0]) if p.regions else (acc.region or "")
    if p.regions and p.regions != ("",):
        norm = value.lower() if p.marketplace == "amazon" else value.upper()
        if norm not in p.regions:
            hint = " (the United Kingdom is GB)" if norm == "UK" and "GB" in p.regions else \
                _country_hint(p.marketplace, norm.strip().upper()) or did_you_mean(norm, p.regions)
            raise ConfigError(f"unknown region '{acc.region}' for {p.name}{hint}"
                              f" (known: {', '.join(p.regions)})", where=f"accounts[{acc.id}].region")
        return norm
    return value


# a seller names a country where the marketplace wants its own region or site code: say which one it is
AMAZON_COUNTRIES = {  # SP-API endpoints: which region serves each country's marketplace
    "na": ("US", "CA", "MX", "BR"),
    "eu": ("UK", "GB", "IE", "DE", "FR", "IT", "ES", "NL", "BE", "SE", "PL", "TR", "EG", "SA", "AE", "IN", "ZA"),
    "fe": ("JP", "AU", "SG"),
}
ML_COUNTRIES = {"AR": "MLA", "BR": "MLB", "MX": "MLM", "CL": "MLC", "CO": "MCO", "UY": "MLU", "PE": "MPE"}


def _country_hint(marketplace: str, country: str) -> str:
    """`` (did you mean 'eu'? a seller in DE is served by the eu region)`` for a country code, else ``""``."""
    if marketplace == "amazon":
        region = next((r for r, countries in AMAZON_COUNTRIES.items() if country in countries), None)
    elif marketplace == "ebay":
        region = "EBAY_GB" if country in ("UK", "GB") else f"EBAY_{country}" if f"EBAY_{country}" in EBAY_SITES \
            else None
    elif marketplace == "mercadolibre":
        region = ML_COUNTRIES.get(country)
    else:
        region = None
    return f" (did you mean '{region}'? the {region} {'region' if marketplace == 'amazon' else 'site'} serves " \
           f"sellers in {country})" if region else ""


def check_region(acc: AccountConfig) -> str:
    """The account's region, honoured or refused with a ConfigError naming it (``init``, ``connect``, ``check``)."""
    return _site(acc, provider(acc.marketplace))


def region_of(marketplace: str, account_id: str, region: str) -> str:
    """``region`` as the marketplace spells it (``mlb`` -> ``MLB``), or a ConfigError naming the accepted ones
    (an imported account's ``account`` line)."""
    from types import SimpleNamespace

    return _site(SimpleNamespace(id=account_id, region=region), provider(marketplace)) or region  # type: ignore[arg-type]


def authorize_url(acc: AccountConfig) -> str:
    """Where the seller consents: the marketplace's page, or ``base_url`` + its path on a test host."""
    p = provider(acc.marketplace)
    site = _site(acc, p)
    base = acc.base_url.rstrip("/") if acc.base_url else None
    opts = acc.options
    if p.marketplace == "amazon":
        return f"{base}/apps/authorize/consent" if base else f"https://{AMAZON_CONSENT[site]}/apps/authorize/consent"
    if p.marketplace == "ebay":
        return f"{base}/oauth2/authorize" if base else \
            f"https://auth.{'sandbox.' if acc.sandbox else ''}ebay.com/oauth2/authorize"
    if p.marketplace == "etsy":
        return f"{base}/oauth/connect" if base else "https://www.etsy.com/oauth/connect"
    if p.marketplace == "tiktok":
        host = "services.us.tiktokshop.com" if site == "US" else "services.tiktokshop.com"
        return f"{base}/open/authorize" if base else f"https://{host}/open/authorize"
    if p.marketplace == "mercadolibre":
        return f"{base}/authorization" if base else f"https://{ML_SITES[site]}/authorization"
    if p.marketplace == "shopify":
        shop = str(opts.get("shop") or "")
        if base:
            return f"{base}/admin/oauth/authorize"
        if not shop:
            raise ConfigError("options.shop is not set (your store's name, e.g. \"my-store\")",
                              where=f"accounts[{acc.id}].options.shop")
        host = shop if shop.endswith(".myshopify.com") else f"{shop}.myshopify.com"
        return f"https://{host}/admin/oauth/authorize"
    raise ConfigError(f"{p.name} uses client credentials: there is no consent to give", where=acc.id)


def token_url(acc: AccountConfig) -> str:
    """The token endpoint the connector itself uses (``token_url`` > ``base_url`` + path > the real host)."""
    if acc.token_url:
        return acc.token_url
    base = acc.base_url.rstrip("/") if acc.base_url else None
    m = acc.marketplace
    if m == "amazon":
        return f"{base}/auth/o2/token" if base else "https://api.amazon.com/auth/o2/token"
    if m == "ebay":
        return f"{base or ('https://api.sandbox.ebay.com' if acc.sandbox else 'https://api.ebay.com')}" \
               "/identity/v1/oauth2/token"
    if m == "etsy":
        return f"{base}/v3/public/oauth/token" if base else "https://api.etsy.com/v3/public/oauth/token"
    if m == "tiktok":
        return f"{base or 'https://auth.tiktok-shops.com'}/api/v2/token/get"
    if m == "mercadolibre":
        return f"{base or 'https://api.mercadolibre.com'}/oauth/token"
    if m == "shopify":
        return authorize_url(acc).replace("/admin/oauth/authorize", "/admin/oauth/access_token")
    raise ConfigError(f"{m}: no authorization-code token endpoint", where=acc.id)


# -- what connect learnt ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """What a consent gave, without the secrets: shown by ``connect``, kept (sealed) for ``check`` and ``status``."""

    scopes: tuple[str, ...]
    access_expires_at: datetime | None
    expires_at: datetime | None  # when the stored credential (refresh token or authorization) runs out
    seller: str | None = None  # the seller id the marketplace named, when it did


def credential_expiry(store: Any, acc: AccountConfig) -> datetime | None:
    """When ``acc``'s stored credential runs out, or None when it does not (or nothing was connected).

    Rotating refresh tokens (Etsy, Mercado Libre, TikTok) get a new lifetime at every refresh: the later of the
    consent's date and the last rotation (the connector's ``refresh_token`` state row) counts.
    """
    p = PROVIDERS.get(acc.marketplace)
    if p is None or p.grant != "code":
        return None
    raw = store.state(acc.id, STATE_EXPIRES)
    try:
        expiry = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        expiry = None
    if p.rotates:
        if acc.marketplace == "tiktok" and (stamp := store.state(acc.id, "refresh_token_expires_at")):
            from datetime import UTC

            try:
                rotated = datetime.fromtimestamp(int(stamp), UTC)
                expiry = max(expiry, rotated) if expiry else rotated
            except (ValueError, OverflowError, OSError):
                pass
        elif p.lifetime_days and (at := state_updated_at(store, acc.id, "refresh_token")) is not None:
            rotated = at + timedelta(days=p.lifetime_days)
            expiry = max(expiry, rotated) if expiry else rotated
    return expiry


def state_updated_at(store: Any, account: str, key: str) -> datetime | None:
    """When the connector-state row ``key`` of ``account`` was last written (None when absent)."""
    from sqlalchemy import select
    from sqlmodel import Session

    from sellerguard.store.tables import ConnectorState

    with Session(store.engine) as session:
        return session.execute(select(ConnectorState.updated_at).where(
            ConnectorState.account == account, ConnectorState.key == key)).scalar_one_or_none()  # type: ignore[arg-type]
