"""Generated German and Chinese documents for the per-language quality rules, good and planted bad.

Good documents are 9-10 sentences drawn (without repetition) from a pool of natural sentences,
so they pass that language's rules; the planted bad ones each break one rule the way web junk
does (a keyword list without stop words, a page of repeated lines, a stub, lorem ipsum).
"""

from __future__ import annotations

import random

GERMAN_SENTENCES: tuple[str, ...] = (
    "Die Stadt hat im vergangenen Jahr mit dem Bau einer neuen Brücke über den Fluss begonnen.",
    "Viele Bewohner haben sich über den Lärm der Baustelle beschwert, der schon am frühen Morgen beginnt.",
    "Der Bürgermeister sagte, dass die Arbeiten bis zum Herbst abgeschlossen sein sollen.",
    "In der Bibliothek gibt es jetzt auch am Sonntag eine Lesestunde für Kinder und ihre Eltern.",
    "Das Museum zeigt in diesem Sommer eine Ausstellung über die Geschichte der Eisenbahn in der Region.",
    "Auf dem Wochenmarkt verkaufen die Bauern aus den umliegenden Dörfern Gemüse, Käse und Brot.",
    "Im Winter war der See so lange zugefroren, dass man darauf Schlittschuh laufen konnte.",
    "Die Schule hat einen neuen Garten angelegt, in dem die Schüler Kräuter und Tomaten pflanzen.",
    "Nach dem Regen der letzten Tage ist der Wasserstand des Flusses deutlich gestiegen.",
    "Der Verein sucht noch freiwillige Helfer für das Fest, das im August auf dem Marktplatz stattfindet.",
    "Eine Studie der Universität zeigt, dass immer mehr Menschen mit dem Fahrrad zur Arbeit fahren.",
    "Die Bäckerei an der Ecke ist seit mehr als hundert Jahren im Besitz derselben Familie.",
    "Am Wochenende wird die Hauptstraße gesperrt, weil dort die Leitungen erneuert werden.",
    "Der Chor probt jeden Dienstag im Gemeindehaus und freut sich über neue Stimmen.",
    "Im Herbst kommen viele Wanderer in das Tal, um die bunten Wälder zu sehen.",
    "Die Feuerwehr wurde in der Nacht zu einem Brand in einer alten Scheune gerufen.",
    "Seit dem Frühjahr fährt der Bus auch am Abend noch einmal in die Nachbarstadt.",
    "Der Gemeinderat hat beschlossen, die Gebühren für den Kindergarten nicht zu erhöhen.",
    "Auf dem Dach des Rathauses wurde eine Anlage für Solarstrom gebaut, die im Mai ans Netz geht.",
    "Die Ärztin erklärte, dass sie wegen der vielen Patienten eine zweite Praxis eröffnen möchte.",
    "Bei dem Konzert in der Kirche spielte das Orchester Werke von Bach und Händel.",
    "Ein Unternehmen aus der Region will in der Nähe des Bahnhofs eine neue Halle bauen.",
    "Die Straße zum Friedhof ist im Winter oft glatt, deshalb wird sie jetzt früher gestreut.",
    "Zum ersten Mal seit vielen Jahren hat der Storch wieder auf dem Kirchturm gebrütet.",
    "Die Polizei bittet Zeugen, die am Samstag etwas beobachtet haben, sich zu melden.",
    "In dem alten Kino wird jetzt an jedem ersten Freitag im Monat ein Film für Senioren gezeigt.",
)
CHINESE_SENTENCES: tuple[str, ...] = (
    "这座城市去年开始在河上修建一座新的大桥。",
    "很多居民抱怨工地的噪音从清晨就开始了。",
    "市长说工程将在今年秋天之前完成。",
    "图书馆现在每个星期天都有为孩子和家长准备的读书活动。",
    "博物馆今年夏天举办了一个关于本地铁路历史的展览。",
    "周末的集市上有附近村子的农民卖蔬菜和水果。",
    "冬天湖面结冰的时间很长，人们可以在上面滑冰。",
    "学校新建了一个花园，学生们在那里种了番茄和香草。",
    "连续几天的大雨之后，河里的水位明显上升了。",
    "协会还在为八月在广场上举行的节日寻找志愿者。",
    "大学的一项研究表明，越来越多的人骑自行车上班。",
    "街角的那家面包店已经被同一个家庭经营了一百多年。",
    "这个周末主街将会封闭，因为要更换地下的管道。",
    "合唱团每个星期二在社区中心排练，欢迎新成员加入。",
    "秋天有很多游客来到山谷里看五颜六色的树林。",
    "消防队在夜里被叫到一个旧仓库去灭火。",
    "从今年春天开始，晚上也有一班公交车开往邻近的城市。",
    "议会决定今年不提高幼儿园的收费。",
    "市政府的屋顶上安装了太阳能板，五月份就可以发电了。",
    "医生说因为病人太多，她想再开一家诊所。",
    "在教堂的音乐会上，乐团演奏了巴赫的作品。",
    "一家本地公司打算在火车站附近建一座新的厂房。",
    "警方请星期六看到情况的目击者和他们联系。",
    "老电影院现在每个月的第一个星期五为老年人放映电影。",
)


def good_documents(sentences: tuple[str, ...], n: int, per_doc: int = 10, sep: str = " ") -> list[str]:
    """`n` documents of `per_doc` distinct sentences each, in paragraphs of 2-3 sentences."""
    docs = []
    for i in range(n):
        r = random.Random(f"{sentences[0][:4]}-{i}")
        chosen = r.sample(sentences, per_doc)
        paras = [sep.join(chosen[k : k + 3]) for k in range(0, per_doc, 3)]
        docs.append("\n\n".join(paras))
    return docs


def planted_bad_german() -> dict[str, tuple[str, str]]:
    """{name: (text, the drop reason the German rules give)}."""
    keywords = " ".join(
        "Angebote Reisen Hotel Flug Mietwagen Urlaub Strand Berge Wellness Kreuzfahrt Gutschein Rabatt".split()
        * 6
    )
    return {
        "keyword_list": (keywords, "stop_words"),
        "stub": ("Die Stadt hat eine neue Brücke.", "too_few_words"),
        "repeated_lines": (
            "\n".join([GERMAN_SENTENCES[0]] * 6 + [GERMAN_SENTENCES[1]] * 6),
            "duplicate_lines",
        ),
        "lorem": (
            good_documents(GERMAN_SENTENCES, 1)[0] + "\n\nLorem ipsum dolor sit amet, consectetur.",
            "lorem_ipsum",
        ),
    }


def planted_bad_chinese() -> dict[str, tuple[str, str]]:
    """{name: (text, the drop reason the Chinese rules give)}."""
    menu = "。".join(["首页 新闻 体育 财经 科技 娱乐 汽车 房产 旅游 教育 健康 游戏"] * 8) + "。"
    return {
        "menu_without_stop_words": (menu, "stop_words"),
        "stub": ("这座城市修建了大桥。", "too_few_words"),
        "repeated_lines": (
            "\n".join([CHINESE_SENTENCES[0]] * 8 + [CHINESE_SENTENCES[1]] * 8),
            "duplicate_lines",
        ),
    }
