#!/usr/bin/env python3
"""Writes the evasion suite's clean lines (one per line, seeded so stable):
clean.txt: chat lines built from templates in Chinese and English, with
the Scunthorpe-style traps and sensitive words in benign contexts (the
gated false-positive figure); cold_safe.txt: 6,000 lines COLD's
annotators labelled safe (train+dev; Apache-2.0), measured and reported
but not gated, since COLD's "safe" means "not offensive toward a group"
and many such lines swear or name slurs outright.
Run: python3 make_clean.py /path/to/cold (writes both files here)."""
import csv, random, sys

rng = random.Random(17)
cold = sys.argv[1]
safe = []
for split in ("train", "dev"):
    with open(f"{cold}/{split}.csv", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            t = " ".join(row["TEXT"].split())
            if row["label"] == "0" and 4 <= len(t) <= 150:
                safe.append(t)
safe = sorted(set(safe))
rng.shuffle(safe)
with open("cold_safe.txt", "w") as f:
    for t in safe[:6000]:
        f.write(t + "\n")
lines = []

zh_who = ["主播", "老师", "up主", "大佬", "兄弟", "姐妹", "妈妈", "他妈妈", "我妈", "我哥", "弟弟", "宝宝", "老板", "队友", "房管", "前排", "大家", "同学", "老铁", "粉丝"]
zh_what = ["今天好帅", "唱得太好听了", "这波操作太秀了", "技术真好", "又迟到了", "声音好温柔", "真的很努力", "打得不错", "好可爱啊", "终于开播了", "辛苦了", "早点休息", "生日快乐", "加油啊", "画面有点卡", "网络好像不太稳", "讲得很清楚", "太搞笑了", "笑死我了", "这个菜看起来好好吃"]
zh_tail = ["", "！", "！！", "哈哈哈", "233333", "666", "～", "。", "👍", "❤️", "😂", "[doge]", "hhh", "!!!", "？"]
zh_fixed = ["666666", "哈哈哈哈哈哈", "前方高能", "弹幕护体", "打卡", "来了来了", "第一次来，关注了", "主播用的什么麦克风", "这首歌叫什么名字", "上班摸鱼看直播", "刚下班，来晚了",
    "我妈的手机又坏了", "他妈妈做的红烧肉好吃", "尼玛县的风景真美", "杂种优势是遗传学里的概念", "我要一杯大奶茶", "羊杂碎汤真香", "这个逼真的画面", "傻瓜相机也能拍这么好", "操作太细了", "去操场跑步了",
    "日本料理还是挺好吃的", "我在学日语", "黑色的衣服很好看", "这个游戏的外挂问题官方要管管", "今天穿私服出门", "办证大厅人好多", "母狗生了五只小狗", "蝗虫灾害很严重", "湾湾的风景不错",
    "妈妈问我为什么跪着看", "爸爸去哪儿", "哥哥好帅", "姐姐唱歌好听", "他是个好人", "逼格满满", "牛逼", "太牛了", "你好棒", "真的假的", "我不信", "下次一定", "白嫖了", "三连了",
    "这个价格有点贵", "有链接吗", "什么时候抽奖", "这个游戏叫什么", "开黑吗", "求带", "我先去吃饭了", "晚安", "早上好", "中午好"]
zh_what += ["今天的妆好好看", "这个发型适合你", "这局稳了", "下把带我", "音乐好听", "背景是哪里", "这个皮肤好看", "猫猫好可爱", "狗狗在睡觉", "好想去旅游", "在吃火锅", "这道题怎么做",
    "讲解太细致了", "我学会了", "再来一首", "点歌点歌", "有点困了", "明天几点播", "周末也播吗", "谢谢礼物", "买他妈妈推荐的那款", "跟男性交往要注意什么", "黑人牙膏挺好用", "日本鬼屋好吓人"]
zh_benign = ["男性交往中要互相尊重", "他妈妈人很好", "我妈妈做的菜最好吃", "黑人牙膏改名了", "杂种优势在育种里很常见", "新闻里说要严厉打击犯罪", "这部电影讲的是反家暴", "羊杂碎汤来一碗",
    "大奶茶加冰", "尼玛县海拔很高", "去操场打球", "操作失误了", "逼真的特效", "傻瓜式操作", "鸡蛋灌饼", "巴黎圣母院", "做爱心便当", "日本的樱花", "阿三哥的咖喱店"[:0] or "印度咖喱很香", "说话要文明", "别骂人哦", "请不要刷屏"]
lines += zh_benign
for _ in range(7500):
    lines.append(rng.choice(zh_who) + rng.choice(zh_what) + rng.choice(zh_tail))
lines += zh_fixed

en_start = ["lol", "omg", "wow", "gg", "nice", "honestly", "ngl", "bro", "yo", "ok", "haha", "damn", "hey chat,", "fr", "wait"]
en_mid = ["that play was insane", "this song slaps", "the bass in this track is great", "my bassist friend loves this", "the assassin build is broken", "classic move", "first class stream",
    "grab a glass of water", "touch grass", "the brass section is on point", "pass the ball", "what a passage", "use the compass", "I assume we win", "nice assist", "the assessment was fair",
    "cocktail hour", "check the cockpit view", "a cockroach ran across my desk", "a peacock in the zoo", "badminton shuttlecock", "Hitchcock movies are the best", "shiitake mushrooms for dinner",
    "my therapist says hi", "deep analysis", "the analyst was right", "the Panama Canal", "pretty banal plot", "read the document", "cumulative score", "under the circumstances", "cucumber salad",
    "Titanic is a classic", "what is the title", "Dickens novels", "I live in Sussex", "from Essex", "Middlesex uni", "Arsenal won again", "grapefruit juice", "I scraped my knee", "drape the flag",
    "the skyscraper view", "rapeseed fields are yellow", "stop sniggering", "spicy food", "add spice", "a conspicuous hat", "auspicious start", "a raccoon ate my trash", "cocoon mode", "tech tycoon",
    "I went to Japan", "greetings from Scunthorpe", "Penistone is in Yorkshire", "Cockburn is a surname", "she graduated magna cum laude", "cute pussycat", "a pussy willow branch", "that is shell shocking",
    "kill the boss first", "the killer whale documentary", "I'm dying of laughter", "this beat is sick", "shoot the enemy tower", "we got destroyed", "that was brutal", "the hell difficulty is hard", "damn that was close",
    "the sex of the puppy is male", "breast cancer awareness month", "gay pride parade today", "a black cat crossed the road", "white chocolate is fine", "the Japanese garden", "Chinese food tonight",
    "my grandpa is 90", "the score is 3 to 1", "room 101", "see you at 7", "level 42 now", "I have 5 cats", "version 2.0 is out", "what a hit", "this hit hard", "is it live", "push it to the limit",
    "the pen is on the desk", "take a nap", "a hole in one"]
en_end = ["", "!", "!!", " :)", " 😂", " 🔥", "...", " haha", " lol", " gg", "?"]
for _ in range(7500):
    lines.append((rng.choice(en_start) + " " + rng.choice(en_mid) + rng.choice(en_end)).strip())

seen = set()
with open("clean.txt", "w") as f:
    for l in lines:
        if l in seen:
            continue
        seen.add(l)
        f.write(l + "\n")
