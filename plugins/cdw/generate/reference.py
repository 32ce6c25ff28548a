"""Reference data of the bank: names, cities, branches, banks, teams and the code lists in use."""

from __future__ import annotations

# (surname, pinyin, relative frequency) - the most common Chinese surnames
SURNAMES = [
    ("王", "wang", 7.1), ("李", "li", 7.0), ("张", "zhang", 6.7), ("刘", "liu", 5.4),
    ("陈", "chen", 4.5), ("杨", "yang", 3.1), ("黄", "huang", 2.2), ("赵", "zhao", 2.0),
    ("吴", "wu", 1.9), ("周", "zhou", 1.9), ("徐", "xu", 1.3), ("孙", "sun", 1.2),
    ("马", "ma", 1.2), ("朱", "zhu", 1.1), ("胡", "hu", 1.0), ("郭", "guo", 1.0),
    ("何", "he", 0.9), ("林", "lin", 0.9), ("罗", "luo", 0.8), ("高", "gao", 0.8),
    ("郑", "zheng", 0.7), ("梁", "liang", 0.7), ("谢", "xie", 0.6), ("宋", "song", 0.5),
    ("唐", "tang", 0.5), ("许", "xu", 0.5), ("韩", "han", 0.5), ("冯", "feng", 0.5),
    ("邓", "deng", 0.5), ("曹", "cao", 0.5), ("彭", "peng", 0.4), ("曾", "zeng", 0.4),
    ("欧阳", "ouyang", 0.1), ("司马", "sima", 0.02),
]  # fmt: skip

MALE_GIVEN = [
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("勇", "yong"), ("杰", "jie"),
    ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("浩然", "haoran"), ("子轩", "zixuan"),
    ("宇航", "yuhang"), ("建国", "jianguo"), ("志强", "zhiqiang"), ("俊杰", "junjie"),
    ("建华", "jianhua"), ("鹏", "peng"), ("斌", "bin"), ("文博", "wenbo"), ("国华", "guohua"),
]  # fmt: skip

FEMALE_GIVEN = [
    ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"), ("芳", "fang"), ("婷", "ting"),
    ("雪", "xue"), ("欣怡", "xinyi"), ("梓涵", "zihan"), ("秀英", "xiuying"), ("桂英", "guiying"),
    ("玉兰", "yulan"), ("晓燕", "xiaoyan"), ("丹", "dan"), ("慧", "hui"), ("雅婷", "yating"),
    ("淑华", "shuhua"), ("佳怡", "jiayi"), ("红梅", "hongmei"), ("艳", "yan"),
]  # fmt: skip

EMAIL_DOMAINS = ["qq.com", "163.com", "126.com", "sina.com", "gmail.com", "outlook.com", "139.com"]

# (city, branch code, weight, branches) - the bank is headquartered in Shanghai
CITIES = [
    ("上海", "SH", 26, 8), ("北京", "BJ", 14, 6), ("广州", "GZ", 9, 4), ("深圳", "SZ", 10, 4),
    ("成都", "CD", 8, 4), ("杭州", "HZ", 8, 3), ("南京", "NJ", 6, 3), ("苏州", "SU", 5, 2),
    ("武汉", "WH", 5, 2), ("重庆", "CQ", 4, 2), ("西安", "XA", 3, 2), ("天津", "TJ", 2, 2),
]  # fmt: skip

# counterparty banks by SWIFT BIC; the first is the bank itself
BANKS = ["CDWBCNSH", "ICBKCNBJ", "PCBCCNBJ", "ABOCCNBJ", "BKCHCNBJ", "COMMCNSH", "CMBCCNBS", "SPDBCNSH"]
BANK_WEIGHTS = [0.30, 0.16, 0.14, 0.10, 0.10, 0.08, 0.08, 0.04]

# code lists (order = the integer code used internally)
PRODUCTS = ["CURRENT", "SAVINGS", "TIME_DEPOSIT", "CREDIT_CARD", "LOAN", "WEALTH"]
CURRENT, SAVINGS, TIME_DEPOSIT, CREDIT_CARD, LOAN, WEALTH = range(6)
DEPOSIT_PRODUCTS = (CURRENT, SAVINGS, TIME_DEPOSIT, WEALTH)

CURRENCIES = ["CNY", "USD", "HKD"]
FX_TO_CNY = [1.0, 7.2, 0.92]

SEGMENTS = ["MASS", "AFFLUENT", "PRIVATE"]
SEGMENT_FLOOR_CNY = [0, 100_000, 1_000_000]  # the bank's tiering on total deposits

STATUSES = ["ACTIVE", "DORMANT", "CLOSED"]
ACTIVE, DORMANT, CLOSED = range(3)

EDUCATION = ["PRIMARY", "SECONDARY", "BACHELOR", "POSTGRADUATE", "UNKNOWN"]
EDUCATION_P = [0.05, 0.30, 0.40, 0.12, 0.13]

CHANNELS = ["BRANCH", "ATM", "POS", "ONLINE", "MOBILE", "PHONE", "SYSTEM"]
BRANCH, ATM, POS, ONLINE, MOBILE, PHONE, SYSTEM = range(7)

TXN_TYPES = [
    "DEPOSIT", "WITHDRAWAL", "TRANSFER", "PAYMENT", "CARD_PURCHASE", "FEE", "INTEREST",
    "LOAN_REPAYMENT", "REVERSAL",
]  # fmt: skip
DEPOSIT, WITHDRAWAL, TRANSFER, PAYMENT, CARD_PURCHASE, FEE, INTEREST, LOAN_REPAYMENT, REVERSAL = range(9)

# contact centre
TEAMS = ["RETAIL-A", "RETAIL-B", "CARDS", "PREMIUM", "DIGITAL"]
TEAM_P = [0.30, 0.20, 0.20, 0.12, 0.18]
SITES = ["Shanghai", "Chengdu"]
# shift: (start second, end second) local; NIGHT crosses midnight
SHIFTS = {
    "EARLY": (7 * 3600, 15 * 3600 + 1800),
    "DAY": (9 * 3600, 18 * 3600),
    "LATE": (13 * 3600, 21 * 3600 + 1800),
    "NIGHT": (21 * 3600 + 1800, 31 * 3600 + 1800),
}
SERVICES = ["RETAIL", "PREMIUM", "CREDIT_CARD", "INTERNET_BANKING", "PROSPECT", "CALLBACK"]
SERVICE_TEAMS = {
    "RETAIL": ("RETAIL-A", "RETAIL-B"),
    "PREMIUM": ("PREMIUM",),
    "CREDIT_CARD": ("CARDS",),
    "INTERNET_BANKING": ("DIGITAL",),
    "PROSPECT": ("RETAIL-B", "PREMIUM"),
    "CALLBACK": ("RETAIL-A", "RETAIL-B"),
}
REASONS = ["INQUIRY", "TRANSACTION", "COMPLAINT", "CARD_LOST", "LOAN", "SALES", "TECH_SUPPORT", "OTHER"]
# reason mix per service line (same order as REASONS)
REASON_P = {
    "RETAIL": [0.36, 0.26, 0.04, 0.03, 0.08, 0.03, 0.06, 0.14],
    "PREMIUM": [0.38, 0.20, 0.03, 0.02, 0.12, 0.13, 0.02, 0.10],
    "CREDIT_CARD": [0.26, 0.30, 0.05, 0.18, 0.02, 0.04, 0.03, 0.12],
    "INTERNET_BANKING": [0.22, 0.12, 0.04, 0.01, 0.01, 0.01, 0.50, 0.09],
    "PROSPECT": [0.50, 0.02, 0.01, 0.00, 0.15, 0.22, 0.00, 0.10],
    "CALLBACK": [0.35, 0.25, 0.06, 0.02, 0.08, 0.04, 0.05, 0.15],
}
