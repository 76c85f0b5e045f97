"""Cleaning and normalisation: web chrome goes, article sentences stay verbatim, metadata is found."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.clean import clean_article, is_headline, parse_date
from rag.normalize import normalize_quote, normalize_text


def demo(articles_dir: Path, prefix: str):  # noqa: ANN201 - Cleaned
    (path,) = articles_dir.glob(f"{prefix}_*.txt")
    return clean_article(path.read_text(encoding="utf-8"))


def lines_of(text: str) -> set[str]:
    return {ln.strip() for ln in text.split("\n") if ln.strip()}


# ---- the demo articles ----------------------------------------------------------------------
DEMO_BOILERPLATE = {
    "000": ["0 4 min 9 mths", "Source link", "Leave a Reply", "Your email address will not be published."],
    "001": ["Sat. Jan 22nd, 2022", "Source link", "By admin", "Leave a Reply",
            "Your email address will not be published. Required fields are marked *"],
    "002": ["© AP Photo / Jacquelyn Martin, PoolU.S. and Israeli flags fly as U.S. Secretary of State John Kerry "
            "arrives in Tel Aviv, Israel, Tuesday, Nov. 24, 2015",
            "U.S. and Israeli flags fly as U.S. Secretary of State John Kerry arrives in Tel Aviv, Israel, Tuesday, "
            "Nov. 24, 2015 - Sputnik International, 1920, 02.01.2022",
            "US Black hawk helicopters - Sputnik International, 1920, 04.03.2018",
            "Qasem Soleimani Saying Prayer in Imam Khomeini Hossainiah in Tehran - Sputnik International, 1920, "
            "22.12.2021",
            "To participate in the discussion", "log in or register", "Заголовок открываемого материала"],
    "003": ["18.01.2021 Author: Vladimir Platov", "Please select digest to download:"],
}

DEMO_SENTENCES = {
    "000": [
        "The January 3, 2020 US drone strike just outside Baghdad’s airport also took out Abu Mahdi al-Muhandis, "
        "head of Iraq’s Popular Mobilization Forces (PMF) – which is seen in the West as supported by Tehran.",
        "Iranian media quoted one protester at Friday’s events outside the Green Zone as saying:",
        "Saturday also witnessed hundreds of thousands of Iraqis take to the street to protest the US and the "
        "killing of Soleimani and Muhandis.",
        "However, regional leaders who wish to see a swift US departure from the Middle East (including Iraq and "
        "northeast Syria), argue that the ‘counter-ISIS’ mission is over, thus there’s no further ‘counter-terror’ "
        "justification for the Pentagon to remain there.",
    ],
    "001": [
        "Former US President Donald Trump has ordered the attack that killed Soleimani near Baghdad’s airport "
        "along with his Iraqi lieutenant, Abu Mahdi al-Muhandis, Hashed’s deputy.",
        "“We will accept nothing less than full withdrawal as revenge for the blood of our martyrs,” said Hadi "
        "al-Ameri, head of an Iran-affiliated coalition.",
    ],
    "002": [
        "Several thousand demonstrators rallied in the Iraqi capital on Saturday, chanting anti-American slogans, "
        "trampling and burning US and Israeli flags, and demanding an end to the US military presence in the "
        "country.",
        "During his time as chief of Iran’s Quds Force, Soleimani repeatedly accused the US of colluding with "
        "Daesh, once asking his deputy to “slap the West in the face” with proof of US cooperation with the "
        "terrorist group in Iraq.",
        "* A terrorist group outlawed in Russia and many other countries.",
    ],
    "003": [
        "According to the Pentagon, there were 109 US troops diagnosed with traumatic brain injury following the "
        "missile strike against the Ayn al Asad air base in western Iraq.",
        "Vladimir Platov, an expert on the Middle East, exclusively for the online magazine “New Eastern Outlook”.",
    ],
    "004": [
        "Large white flags bearing the Hachd badge, but also Iraqi flags dominated the crowd.",
        "“Candlelight vigil”",
        "But for weeks these attacks have been more and more sporadic.",
    ],
}


@pytest.mark.parametrize("prefix", sorted(DEMO_BOILERPLATE))
def test_demo_boilerplate_lines_are_removed(articles_dir: Path, prefix: str) -> None:
    cleaned = demo(articles_dir, prefix)
    for line in DEMO_BOILERPLATE[prefix]:
        assert line not in cleaned.text, line
        assert line in cleaned.removed, line
    assert "Sputnik International, 1920" not in cleaned.text
    assert "Leave a Reply" not in cleaned.text


@pytest.mark.parametrize("prefix", sorted(DEMO_SENTENCES))
def test_demo_article_sentences_are_kept_verbatim(articles_dir: Path, prefix: str) -> None:
    cleaned = demo(articles_dir, prefix)
    for sentence in DEMO_SENTENCES[prefix]:
        assert sentence in cleaned.text, sentence


def test_demo_cleaning_removes_only_chrome(articles_dir: Path) -> None:
    """Every line of every demo article is either kept verbatim or one of the known chrome lines."""
    for path in sorted(articles_dir.glob("*.txt")):
        raw_lines = lines_of(normalize_text(path.read_text(encoding="utf-8")))
        cleaned = clean_article(path.read_text(encoding="utf-8"))
        kept = lines_of(cleaned.text)
        assert kept <= raw_lines, "cleaning never rewrites a line"
        dropped = raw_lines - kept
        allowed = set(DEMO_BOILERPLATE.get(path.name[:3], ())) | {cleaned.title}
        allowed |= {"Iranian General Wants to 'Slap West in Face' With Proof of US-Daesh Cooperation",
                    "IDF’s Former Intel Chief Hayman Admits Israel Was Involved in Soleimani’s Assassination"}
        assert dropped <= allowed, dropped - allowed
        assert len(kept) >= 10


def test_demo_metadata(articles_dir: Path) -> None:
    c002 = demo(articles_dir, "002")
    assert c002.title == ("Watch Iraqi Protesters Trample, Burn US and Israeli Flags Ahead of Anniversary of "
                          "Soleimani’s Death")
    assert not c002.text.startswith("Watch Iraqi Protesters")
    c003 = demo(articles_dir, "003")
    assert (c003.date, c003.author) == ("2021-01-18", "Vladimir Platov")
    assert c003.title == "Iraqi People are Forcing Washington to Withdraw its Troops"
    c001 = demo(articles_dir, "001")
    assert c001.date == "2022-01-22"
    assert c001.author == "", "'By admin' is not an author"
    c000 = demo(articles_dir, "000")
    assert c000.title == "" and c000.date == ""
    assert c000.text.startswith("Just days ahead of the second anniversary")
    c004 = demo(articles_dir, "004")
    assert c004.removed == () and c004.text.startswith("(Baghdad) Thousands of supporters")


# ---- unseen boilerplate -----------------------------------------------------------------------
BODY = [
    "The city council voted on Tuesday to approve a new park along the eastern riverbank, ending a debate that "
    "lasted more than two years.",
    "“It works.”",
    "Residents who attended the meeting left dozens of comments supporting the plan, and the mayor said the "
    "comments had shaped the final design.",
    "The park will open in the spring of 2023 and will include a playground, a boat ramp and walking trails.",
]
UNSEEN_CHROME = [
    "5 min read",
    "Posted on March 3, 2021 by editor",
    "Share this article",
    "Sign up for our daily newsletter",
    "Photo: Jane Doe/Reuters",
    "Advertisement",
    "分享到微信",
    "شارك هذا المقال",
    "Comments (12)",
    "Click here to subscribe",
]


def fake_article(title: str = "City Council Approves New Riverside Park Plan") -> str:
    lines = [title, UNSEEN_CHROME[0], UNSEEN_CHROME[1], UNSEEN_CHROME[2], BODY[0], UNSEEN_CHROME[4],
             UNSEEN_CHROME[5], BODY[1], BODY[2], UNSEEN_CHROME[6], BODY[3], UNSEEN_CHROME[7], UNSEEN_CHROME[3],
             UNSEEN_CHROME[8], UNSEEN_CHROME[9], "Related:"]
    return "\n\n".join(lines) + "\n"


def test_unseen_boilerplate_is_removed_and_body_kept() -> None:
    cleaned = clean_article(fake_article())
    assert cleaned.text == "\n\n".join(BODY)
    for line in UNSEEN_CHROME + ["Related:"]:
        assert line in cleaned.removed, line
    assert cleaned.title == "City Council Approves New Riverside Park Plan"
    assert cleaned.date == "2021-03-03"
    assert cleaned.author == "", "'editor' is a role, not an author"


@pytest.mark.parametrize("chrome", UNSEEN_CHROME + ["ADVERTISEMENT", "Read more: Iran vows revenge",
                                                    "Follow us on Twitter", "(AP Photo/Hadi Mizban)",
                                                    "Published 3 hours ago", "Leave a comment"])
def test_each_unseen_chrome_line_alone(chrome: str) -> None:
    text = f"{BODY[0]}\n{chrome}\n{BODY[3]}"
    cleaned = clean_article(text)
    assert cleaned.text == f"{BODY[0]}\n\n{BODY[3]}", chrome


@pytest.mark.parametrize("sentence", [
    "By then the city was quiet.",
    "The advertisement ran in three newspapers last week.",
    "The minister posted a comment on Twitter calling the vote a disgrace.",
    "The photographer, who works for Getty Images, was detained in Kabul on Monday.",
    "An AP photo showed the damage to the embassy gate.",
    "He did not leave a comment.",
    "BAGHDAD (Reuters) - Thousands of people rallied in Baghdad on Saturday to mark the anniversary.",
    "“No.”",
    "Iraq’s Foreign Ministry said that the US decision “was an unacceptable surprise”.",
])
def test_sentences_that_look_like_chrome_are_kept(sentence: str) -> None:
    cleaned = clean_article(f"{BODY[0]}\n{sentence}\n{BODY[3]}")
    assert sentence in cleaned.text
    assert cleaned.author == ""


def test_byline_becomes_author() -> None:
    cleaned = clean_article(f"By Jane Doe\n{BODY[0]}\n{BODY[3]}")
    assert cleaned.author == "Jane Doe" and "Jane Doe" not in cleaned.text
    assert clean_article(f"{BODY[0]}\nAuthor: John Smith\n{BODY[3]}").author == "John Smith"


def test_a_given_title_wins_and_the_headline_line_is_dropped() -> None:
    cleaned = clean_article(fake_article(), title="Given Title")
    assert cleaned.title == "Given Title"
    assert "City Council Approves" not in cleaned.text
    assert cleaned.text.startswith(BODY[0])


def test_a_given_title_repeated_atop_the_body_is_dropped_even_in_sentence_case() -> None:
    title = "Iraqi people are forcing Washington to withdraw its troops"
    cleaned = clean_article(f"{title}\n\n{BODY[0]}", title=title)
    assert cleaned.text == BODY[0] and cleaned.title == title
    assert clean_article(f"{BODY[0]}\n\n{BODY[3]}", title=BODY[3][:40]).text == f"{BODY[0]}\n\n{BODY[3]}"


def test_trailing_prompt_is_removed_but_a_colon_inside_the_text_is_kept() -> None:
    text = f"{BODY[0]}\nOne protester was quoted as saying:\n“We will stay here until they leave.”\nRead also:"
    cleaned = clean_article(text)
    assert cleaned.text.endswith("“We will stay here until they leave.”")
    assert "One protester was quoted as saying:" in cleaned.text
    assert "Read also:" in cleaned.removed


def test_a_non_latin_article_is_not_erased() -> None:
    zh = ("2020年1月3日，美国无人机在巴格达机场附近发动袭击，伊朗指挥官苏莱曼尼遇难。\n\n"
          "数千人周六在巴格达集会，要求美军撤出伊拉克。\n\nShare this article")
    cleaned = clean_article(zh)
    assert "数千人周六在巴格达集会" in cleaned.text and "Share this article" in cleaned.removed
    ja = ("イランのソレイマニ司令官は2020年1月3日、バグダッドの空港近くで殺害された。\n\n"
          "土曜日には数千人がバグダッドで集会を開き、米軍の撤退を求めた。")
    assert clean_article(ja).text == normalize_text(ja)
    ru = "Тысячи человек собрались в Багдаде в субботу, чтобы отметить годовщину гибели генерала.\n\nShare this"
    assert clean_article(ru).text == ru.split("\n")[0]


def test_cleaning_is_stable() -> None:
    once = clean_article(fake_article())
    twice = clean_article(once.text)
    assert twice.text == once.text and twice.removed == ()


@pytest.mark.parametrize(("text", "iso"), [
    ("Sat. Jan 22nd, 2022", "2022-01-22"), ("18.01.2021", "2021-01-18"), ("2020-01-03T10:00:00Z", "2020-01-03"),
    ("Posted on March 3, 2021 by editor", "2021-03-03"), ("3 January 2020", "2020-01-03"),
    ("31.02.2020", ""), ("no date here", ""), ("Jan 5, 2020 and 2021-06-01", "2020-01-05"),
])
def test_parse_date(text: str, iso: str) -> None:
    assert parse_date(text) == iso


def test_is_headline() -> None:
    assert is_headline("Iraqi People are Forcing Washington to Withdraw its Troops")
    assert not is_headline("Thousands of people gathered in the Iraqi capital to celebrate.")
    assert not is_headline("Source link")
    assert not is_headline("the protesters were filmed burning a mock embassy in baghdad")


# ---- normalisation --------------------------------------------------------------------------
def test_normalize_spaces_invisibles_and_compatibility_forms() -> None:
    raw = "\ufeffThe\u00a0ﬁrst  strike\u200b killed １０ people\u2009on\u3000Friday.\t \r\nNext\u00adline\r\n\n\n\nEnd "
    assert normalize_text(raw) == "The first strike killed 10 people on Friday.\nNextline\n\nEnd"


def test_normalize_keeps_letters_case_and_curly_quotes() -> None:
    text = "“Qasem” Soleimani’s café — naïve ‘x’"
    assert normalize_text(text) == text
    assert normalize_quote("  “Qasem”\n\n Soleimani’s\u00a0café ") == "“Qasem” Soleimani’s café"


def test_normalize_composes_across_removed_invisibles() -> None:
    assert normalize_text("cafe\u200b\u0301") == "café"
    assert normalize_text("cafe\x07\u0301") == "café"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(list("\u00a0\u200b\u00ad\ufeff\r\n\t ﬁ１\u0301")))))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert "\r" not in once and "\u00a0" not in once and "\u200b" not in once
    assert once == once.strip() and "\n\n\n" not in once and " \n" not in once
