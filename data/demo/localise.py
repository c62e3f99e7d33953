"""The demo in another currency and market: ``python -m data.demo --currency VND``.

The demo world is generated once, in US dollars (``data.demo.world``); a market profile then
rewrites the finished tables, so the planted truths (experiments, anomalies, channel effects)
are the same in every currency:

- money columns (``daily_spend.spend``, ``orders.revenue``, ``touchpoints.value``) are
  multiplied by the profile's ``per_usd`` rate and rounded to its ``round_to`` unit (VND:
  whole thousands of đồng, as Vietnamese prices are quoted); an order's purchase touchpoint
  keeps exactly the order's amount;
- campaigns get the market's names (Vietnamese platforms: Google search, Facebook and TikTok
  ads, YouTube, Zalo OA, Shopee/Lazada affiliates, e-mail), with the same channel, stage,
  personalisation and dates;
- regions become the market's (Miền Bắc, Miền Trung, Miền Nam, Tây Nguyên), with the same
  shares.

Channel codes stay the contract's (``paid_social`` …): the app's rules know them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.schema import Region

CURRENCIES = ("USD", "VND")
"""The demo currencies ``--currency`` accepts (USD: the world as generated)."""


@dataclass(frozen=True)
class MarketProfile:
    """How the USD demo becomes another market's: currency, rate, names."""

    currency: str
    per_usd: float
    """Units of ``currency`` per US dollar (a fixed illustrative rate, not a quote)."""
    round_to: float
    """Money is rounded to a multiple of this (VND: 1,000 ₫)."""
    campaign_names: dict[str, str] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)


VIETNAM = MarketProfile(
    currency="VND",
    per_usd=25_000.0,
    round_to=1_000.0,
    campaign_names={
        "Brand search — always on": "Google Search – từ khóa thương hiệu",
        "Competitor conquesting": "Google Search – từ khóa đối thủ",
        "Dynamic search ads by industry": "Google quảng cáo tìm kiếm động theo ngành",
        "Pricing-page intent keywords": "Google Search – từ khóa xem bảng giá",
        "Persona landing pages (search)": "Google Search – trang đích theo chân dung",
        "Holiday promo search": "Google Search – khuyến mãi Tết",
        "LinkedIn lookalike prospecting": "Facebook Ads – tệp khách hàng tương tự",
        "Retargeting — product tour viewers": "Facebook Ads – tiếp thị lại người xem demo",
        "Founder story carousel": "Facebook Ads – câu chuyện nhà sáng lập",
        "Persona-tailored lead ads": "Facebook Lead Ads theo chân dung khách hàng",
        "Ad creative test — outcome vs feature copy": "TikTok Ads – thử lợi ích vs tính năng",
        "Customer-proof UGC ads": "TikTok Ads – video UGC của khách hàng",
        "Q4 budget-season retargeting": "Facebook Ads – tiếp thị lại mùa ngân sách cuối năm",
        "YouTube brand awareness": "YouTube – nhận diện thương hiệu",
        "Webinar replay pre-roll": "YouTube pre-roll – xem lại webinar",
        "Account-based video for enterprise": "Video ABM cho doanh nghiệp lớn",
        "Customer story mini-docs": "TikTok – phim ngắn câu chuyện khách hàng",
        "Conference sponsorship video": "Video tài trợ hội thảo",
        "Weekly newsletter": "Bản tin e-mail hằng tuần",
        "Onboarding drip": "E-mail chuỗi hướng dẫn sử dụng",
        "Trial nudges by persona": "E-mail nhắc dùng thử theo chân dung khách hàng",
        "Generic trial reminder": "E-mail nhắc dùng thử chung",
        "Win-back — we miss you": "E-mail kéo khách quay lại – Chúng tôi nhớ bạn",
        "Product update digest": "E-mail tổng hợp cập nhật sản phẩm",
        "Expansion offers for power users": "Ưu đãi nâng cấp cho người dùng tích cực",
        "Annual plan upgrade nudges": "Nhắc nâng cấp gói năm",
        "Review request after purchase": "Xin đánh giá sau mua hàng",
        "Founder-led LinkedIn posts": "Zalo OA – bài viết của nhà sáng lập",
        "Customer spotlight series": "Fanpage Facebook – chuỗi câu chuyện khách hàng",
        "Slack community AMAs": "Nhóm Zalo cộng đồng – hỏi đáp trực tiếp",
        "Growth loops meetup tour": "Chuỗi meetup Hà Nội – Đà Nẵng – TP.HCM",
        "Champions programme": "Chương trình đại sứ thương hiệu",
        "Give-a-month referral programme": "Giới thiệu bạn bè – tặng 1 tháng",
        "Personalised referral invites": "Shopee/Lazada affiliate – lời mời cá nhân hóa",
        "Loop marketing playbook (SEO hub)": "SEO – cẩm nang loop marketing",
        "Free KPI templates gallery": "SEO – thư viện mẫu KPI miễn phí",
    },
    regions={
        Region.NORTH_AMERICA: Region.MIEN_NAM,
        Region.EUROPE: Region.MIEN_BAC,
        Region.APAC: Region.MIEN_TRUNG,
        Region.LATAM: Region.TAY_NGUYEN,
    },
)

PROFILES: dict[str, MarketProfile] = {"VND": VIETNAM}


def profile_for(currency: str) -> MarketProfile | None:
    """The market profile of ``currency`` (None for USD, the world as generated).

    Raises ``ValueError`` naming the supported currencies for anything else.
    """
    code = str(currency).strip().upper()
    if code == "USD":
        return None
    if code not in PROFILES:
        raise ValueError(f"unsupported demo currency {currency!r}: choose one of {CURRENCIES}")
    return PROFILES[code]


def convert_money(values: pd.Series | np.ndarray, profile: MarketProfile) -> np.ndarray:
    """USD amounts in the profile's currency, rounded to ``round_to`` (NULL stays NULL)."""
    usd = np.asarray(values, dtype=float)
    return np.round(usd * profile.per_usd / profile.round_to) * profile.round_to


def localise_frames(frames: dict[str, pd.DataFrame], profile: MarketProfile) -> None:
    """Rewrite the demo tables in place for ``profile`` (money, campaign names, regions)."""
    campaigns = frames["campaigns"]
    unknown = sorted(set(campaigns["name"]) - set(profile.campaign_names))
    if unknown:  # a new demo campaign needs its market name here
        raise ValueError(f"no {profile.currency} name for demo campaigns {unknown}")
    campaigns["name"] = campaigns["name"].map(profile.campaign_names)
    customers = frames["customers"]
    customers["region"] = (
        customers["region"].astype(str).map({str(k): str(v) for k, v in profile.regions.items()})
    )
    frames["daily_spend"]["spend"] = convert_money(frames["daily_spend"]["spend"], profile)
    frames["orders"]["revenue"] = convert_money(frames["orders"]["revenue"], profile)
    frames["touchpoints"]["value"] = convert_money(frames["touchpoints"]["value"], profile)


def localise_manifest(manifest: dict, profile: MarketProfile) -> None:
    """Record the market in the manifest; its money figures (``*_usd``) stay in US dollars."""
    manifest["currency"] = profile.currency
    manifest["money_per_usd"] = profile.per_usd
    manifest["definitions"]["money"] = (
        f"{profile.currency} (the USD world × {profile.per_usd:,.0f}, rounded to "
        f"{profile.round_to:,.0f}); figures named *_usd in this manifest are US dollars"
    )
    story = manifest.get("story", {})
    if "personalised_campaigns" in story:
        story["personalised_campaigns"] = [
            profile.campaign_names.get(n, n) for n in story["personalised_campaigns"]
        ]
