"""The demo's vocabulary: names, companies, industries, countries, job
titles, event kinds and the words reps write, with how often each occurs."""

from ..models import LeadStatus, Plan, Tier

FIRST_NAMES = (
    "Ava", "Liam", "Olivia", "Noah", "Emma", "Mateo", "Sophia", "Lucas", "Mia", "Ethan",
    "Amelia", "James", "Harper", "Benjamin", "Isabella", "Elijah", "Charlotte", "Daniel",
    "Priya", "Arjun", "Mei", "Hiroshi", "Yuki", "Sofia", "Diego", "Camila", "Lena", "Jonas",
    "Chloe", "Louis", "Freya", "Oscar", "Nora", "Elias", "Aisha", "Omar", "Grace", "Samuel",
    "Zoe", "Gabriel", "Hannah", "Marcus", "Leah", "Victor", "Ines", "Hugo", "Maya", "Felix",
    "Rachel", "David", "Laura", "Thomas", "Anna", "Kevin", "Julia", "Ryan", "Emily", "Sean",
)  # fmt: skip
LAST_NAMES = (
    "Reyes", "Walsh", "Chen", "Patel", "Nguyen", "Kowalski", "Schmidt", "Dubois", "Rossi",
    "Garcia", "Martinez", "Johnson", "Williams", "Brown", "Taylor", "Anderson", "Thomas",
    "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis",
    "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker",
    "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Carter", "Roberts", "Sato", "Tanaka",
    "Kumar", "Singh", "Silva", "Costa", "Larsen", "Berg", "Jansen", "de Vries", "Fischer",
    "Weber", "Novak", "Murphy", "Kelly", "Brennan", "Fraser", "Morgan",
)  # fmt: skip
COMPANY_WORDS = (
    "Harbor", "Northwind", "Summit", "Cedar", "Bluebird", "Granite", "Maple", "Lakeside",
    "Ironwood", "Silverline", "Brightpath", "Redwood", "Oakridge", "Pinecrest", "Riverbend",
    "Stonebridge", "Evergreen", "Westbrook", "Clearwater", "Fairview", "Kestrel", "Lumen",
    "Atlas", "Beacon", "Crescent", "Meridian", "Sterling", "Horizon", "Pioneer", "Keystone",
    "Copperleaf", "Juniper", "Highland", "Bayview", "Foxglove", "Aspen", "Tidewater",
    "Larkspur", "Orchard", "Quarry", "Wren", "Falcon", "Sequoia", "Driftwood", "Ember",
)  # fmt: skip
INDUSTRY_SUFFIXES = {
    "legal": ("Legal LLP", "Law Group", "Law Partners", "Legal", "Litigation LLP"),
    "accounting": ("Accounting", "CPA Group", "Tax & Advisory", "Bookkeeping", "Accountants"),
    "software": ("Analytics", "Labs", "Software", "Systems", "Cloud", "Data"),
    "marketing": ("Marketing", "Creative", "Digital", "Growth Partners", "Agency"),
    "healthcare": ("Health", "Clinic", "Medical Group", "Dental", "Care"),
    "finance": ("Capital", "Financial", "Wealth Partners", "Advisors", "Investments"),
    "education": ("Academy", "Learning", "School", "Tutoring", "Education"),
    "retail": ("Goods", "Outfitters", "Market", "Supply Co.", "Boutique"),
    "manufacturing": ("Manufacturing", "Industries", "Fabrication", "Components", "Works"),
    "nonprofit": ("Foundation", "Trust", "Alliance", "Community Fund", "Society"),
    "media": ("Media", "Studios", "Press", "Productions", "Broadcasting"),
}
# Firms named after their partners ("Reyes & Walsh LLP"), as law and accounting firms are.
PARTNER_FIRM_SUFFIXES = {"legal": ("LLP", "Law"), "accounting": ("& Co.", "CPAs")}
NAME_WORDS_NOT_IN_DOMAIN = frozenset({"llp", "co", "and", "cpas"})

INDUSTRY_WEIGHTS = {
    "legal": 18, "accounting": 14, "software": 13, "marketing": 10, "healthcare": 7,
    "finance": 7, "education": 6, "retail": 7, "manufacturing": 6, "nonprofit": 5, "media": 7,
}  # fmt: skip
COUNTRY_WEIGHTS = {
    "US": 44, "GB": 11, "CA": 9, "DE": 6, "FR": 4, "AU": 6, "NL": 3, "IN": 5, "BR": 4,
    "ES": 3, "SE": 2, "JP": 3,
}  # fmt: skip
COUNTRY_TLDS = {
    "US": "com", "GB": "co.uk", "CA": "ca", "DE": "de", "FR": "fr", "AU": "com.au",
    "NL": "nl", "IN": "in", "BR": "com.br", "ES": "es", "SE": "se", "JP": "co.jp",
}  # fmt: skip
# (fewest, most employees, share of accounts)
EMPLOYEE_BUCKETS = ((1, 10, 35), (11, 50, 30), (51, 200, 20), (201, 1000, 10), (1001, 10000, 5))
PEOPLE_RANGE_BY_BUCKET = ((1, 3), (1, 5), (2, 8), (3, 10), (4, 12))
PLAN_WEIGHTS = {Plan.TRIAL.value: 72, Plan.FREE.value: 28}
SIGNUP_SOURCES = {
    "google": 30, "referral": 18, "direct": 15, "linkedin": 12, "capterra": 8,
    "product_hunt": 5, "partner": 6, "webinar": 6,
}  # fmt: skip
USE_CASES = {
    "legal": ("time tracking", "billing", "matter management", "client intake"),
    "accounting": ("bookkeeping", "client documents", "expense tracking", "time tracking"),
    "software": ("team chat", "project tracking", "incident response"),
    "marketing": ("client collaboration", "campaign planning", "team chat"),
    "healthcare": ("staff scheduling", "team chat"),
    "finance": ("client documents", "compliance", "time tracking"),
    "education": ("class community", "staff chat"),
    "retail": ("staff scheduling", "inventory"),
    "manufacturing": ("shift handover", "quality tracking"),
    "nonprofit": ("volunteer coordination", "community"),
    "media": ("editorial planning", "community"),
}

LEGAL_TITLES = (
    "Associate", "Senior Associate", "Associate", "Paralegal", "Partner", "Managing Partner",
    "Legal Assistant", "Office Administrator", "Administrative Assistant", "Operations Manager",
)  # fmt: skip
ACCOUNTING_TITLES = (
    "Bookkeeper", "Controller", "Accountant", "Senior Accountant", "Tax Manager", "Partner",
    "Office Administrator", "Administrative Assistant",
)  # fmt: skip
SOFTWARE_TITLES = (
    "Founder", "CTO", "Software Engineer", "Software Engineer", "Senior Software Engineer",
    "Product Manager", "Engineering Manager", "Head of Sales", "Designer",
)  # fmt: skip
MARKETING_TITLES = (
    "Marketing Manager", "Founder", "Content Strategist", "Account Manager", "Head of Sales",
    "Designer", "Operations Manager",
)  # fmt: skip
GENERAL_TITLES = (
    "Founder", "CEO", "Operations Manager", "Office Administrator", "Administrative Assistant",
    "Head of Sales", "Marketing Manager", "Bookkeeper", "Controller", "Software Engineer",
    "Project Manager", "Customer Success Manager", "Office Manager", "Director of Operations",
)  # fmt: skip
INDUSTRY_TITLES = {
    "legal": LEGAL_TITLES,
    "accounting": ACCOUNTING_TITLES,
    "finance": ACCOUNTING_TITLES,
    "software": SOFTWARE_TITLES,
    "marketing": MARKETING_TITLES,
    "media": MARKETING_TITLES,
}
SPECIALIST_TITLE_SHARE = 0.8
NO_PERSON_SHARE = 0.05

# Event names with their property variants and how often each variant occurs.
# fmt: off
EVENT_VARIANTS: dict[str, tuple[tuple[dict, float], ...]] = {
    "login": (({"method": "password"}, 6), ({"method": "google"}, 3), ({"method": "sso"}, 1)),
    "message_sent": tuple(
        ({"channel": channel}, weight)
        for channel, weight in (
            ("general", 8), ("random", 3), ("clients", 4), ("support", 3),
            ("sales", 2), ("engineering", 3), ("ops", 2), ("direct", 6),
        )
    ),
    "hour_logged": tuple(
        ({"hours": hours, "billable": billable}, weight * (3 if billable else 1))
        for hours, weight in ((0.25, 2), (0.5, 4), (1.0, 6), (1.5, 5), (2.0, 4), (3.0, 3), (4.0, 2), (6.0, 1), (8.0, 1))
        for billable in (True, False)
    ),
    "invite_sent": (({"role": "member"}, 8), ({"role": "admin"}, 1), ({"role": "guest"}, 2)),
    "channel_created": (({"private": False}, 3), ({"private": True}, 1)),
    "file_uploaded": (
        ({"kind": "invoice"}, 4), ({"kind": "receipt"}, 4), ({"kind": "financial_statement"}, 2),
        ({"kind": "bank_statement"}, 1), ({"kind": "contract"}, 2), ({"kind": "image"}, 3),
        ({"kind": "document"}, 4),
    ),
    "template_created": (
        ({"kind": "invoice"}, 2), ({"kind": "timesheet"}, 2), ({"kind": "engagement_letter"}, 1),
        ({"kind": "message"}, 2),
    ),
    "friend_added": (({"via": "suggestion"}, 5), ({"via": "search"}, 3), ({"via": "import"}, 1)),
    "pricing_page_viewed": (({"plan": "business"}, 5), ({"plan": "pro"}, 3), ({"plan": "enterprise"}, 1)),
    "usage_limit_hit": (
        ({"limit": "messages"}, 5), ({"limit": "seats"}, 2), ({"limit": "storage"}, 2),
        ({"limit": "projects"}, 1),
    ),
    "contact_sales_clicked": (
        ({"placement": "pricing_page"}, 3), ({"placement": "upgrade_dialog"}, 2),
        ({"placement": "settings"}, 1),
    ),
}
# fmt: on
HAND_RAISING_WEIGHTS = {
    "pricing_page_viewed": 3.0,
    "usage_limit_hit": 1.5,
    "contact_sales_clicked": 0.7,
}
HAND_RAISING_NAMES = frozenset(HAND_RAISING_WEIGHTS)
# What each industry does more (or less) of than the profile's baseline.
INDUSTRY_ACTIVITY = {
    "legal": {"hour_logged": 4.0, "template_created": 1.5},
    "accounting": {"hour_logged": 3.0, "file_uploaded": 2.5},
    "finance": {"file_uploaded": 2.0},
    "software": {"message_sent": 1.3, "channel_created": 1.5},
    "marketing": {"message_sent": 1.2, "channel_created": 1.3, "template_created": 1.5},
    "media": {"friend_added": 3.0, "message_sent": 1.2},
    "education": {"friend_added": 3.0},
    "nonprofit": {"friend_added": 2.5},
}
# Accountants upload the financial documents bookkeeping software qualifies on.
FINANCIAL_FILE_INDUSTRIES = frozenset({"accounting", "finance"})
FINANCIAL_FILE_KINDS = frozenset({"invoice", "receipt", "financial_statement", "bank_statement"})

# How far reps take the leads they are given, given the time: (furthest
# status, its share of assigned leads).
OUTCOME_SHARES = (
    (LeadStatus.ASSIGNED.value, 0.15),
    (LeadStatus.CONTACTED.value, 0.30),
    (LeadStatus.CONVERTED.value, 0.30),
    (LeadStatus.DISQUALIFIED.value, 0.25),
)
CONTACTED_REASONS = (
    "Booked an intro call",
    "Emailed the account owner",
    "Left a voicemail and sent a follow-up",
    "Offered an onboarding session",
)
CONVERTED_REASONS = (
    "Upgraded to the Business plan",
    "Signed an annual contract",
    "Upgraded after the onboarding call",
    "Bought seats for the whole team",
)
DISQUALIFIED_REASONS = (
    "Budget not approved",
    "No decision maker reachable",
    "Student project",
    "Chose a competitor",
    "Personal use only",
)

# Reps by territory; more reps than templates repeat them.
NA = ("US", "CA")
EMEA = ("GB", "DE", "FR", "NL", "ES", "SE")
APAC = ("AU", "JP", "IN")
REP_TERRITORIES = (
    (NA, (Tier.SMALL.value, Tier.MID.value), ()),
    (NA, (Tier.MID.value, Tier.LARGE.value), ()),
    (NA, (), ("legal", "accounting")),
    (EMEA, (), ()),
    (EMEA, (), ("legal", "accounting")),
    (APAC, (), ()),
    (NA, (Tier.SMALL.value,), ()),
    ((), (), ()),
)
REP_EMAIL_DOMAIN = "sales.pqlsite.example"
# Routing for the demo: a team and a rule per territory, in this order.
DEMO_TEAMS = (("North America", NA), ("EMEA", EMEA), ("APAC", APAC), ("Rest of the world", ()))
