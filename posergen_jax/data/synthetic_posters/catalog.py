"""What a synthetic poster can be made of: named colours and the 20 poster types.

Each poster type has its own palettes, layout tendency, background motifs, picture
scenes and title vocabulary (English and Chinese), so the type can be learnt from
the pixels. Colour names are shared by the renderer (which draws them) and the
captions (which name them).
"""

import dataclasses
import typing

RGB = tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class NamedColor:
  """A colour with its English and Chinese names and its sRGB value (0..255)."""

  en: str
  zh: str
  rgb: RGB


COLORS: dict[str, NamedColor] = {
    c.en: c
    for c in (
        NamedColor("red", "红色", (214, 40, 40)),
        NamedColor("maroon", "酒红色", (118, 22, 42)),
        NamedColor("orange", "橙色", (245, 130, 32)),
        NamedColor("yellow", "黄色", (250, 210, 45)),
        NamedColor("gold", "金色", (212, 172, 60)),
        NamedColor("green", "绿色", (46, 150, 70)),
        NamedColor("mint", "薄荷绿", (168, 228, 198)),
        NamedColor("teal", "青色", (0, 128, 128)),
        NamedColor("sky blue", "天蓝色", (120, 190, 240)),
        NamedColor("blue", "蓝色", (32, 92, 200)),
        NamedColor("navy", "藏青色", (20, 30, 82)),
        NamedColor("purple", "紫色", (112, 50, 160)),
        NamedColor("pink", "粉色", (245, 160, 190)),
        NamedColor("white", "白色", (248, 248, 244)),
        NamedColor("cream", "米白色", (245, 235, 210)),
        NamedColor("beige", "米色", (218, 198, 160)),
        NamedColor("grey", "灰色", (130, 130, 134)),
        NamedColor("black", "黑色", (20, 20, 24)),
        NamedColor("brown", "棕色", (120, 76, 42)),
    )
}


class Palette(typing.NamedTuple):
  """The sRGB colours one poster is drawn with."""

  background: RGB
  background_2: RGB
  accent: RGB
  text: RGB


# Layout ids -> (English, Chinese) phrases used in captions.
LAYOUTS: dict[str, tuple[str, str]] = {
    "picture_top": ("a picture on top and the title at the bottom", "上方是图片，下方是标题"),
    "title_top": ("the title at the top and a picture below", "顶部是标题，下方是图片"),
    "full_picture": (
        "a full-page picture with the title on a band at the bottom",
        "整版是图片，底部色带上写着标题",
    ),
    "round_picture": (
        "the title at the top and a round picture in the centre",
        "顶部是标题，中间是圆形图片",
    ),
}

GRADIENTS: dict[str, tuple[str, str]] = {
    "vertical": ("vertical gradient", "上下渐变"),
    "diagonal": ("diagonal gradient", "斜向渐变"),
    "radial": ("radial glow", "径向光晕"),
}

TEXTURES: dict[str, tuple[str, str]] = {
    "plain": ("smooth", "平滑"),
    "grain": ("grainy", "颗粒"),
    "stripes": ("striped", "条纹"),
    "halftone": ("halftone", "网点"),
    "grid": ("grid-lined", "网格"),
}

MOTIFS: dict[str, tuple[str, str]] = {
    "circles": ("circles", "圆点"),
    "rings": ("rings", "圆环"),
    "stars": ("stars", "星星"),
    "triangles": ("triangles", "三角形"),
    "stripes": ("diagonal stripes", "斜条纹"),
    "dots": ("dot grids", "点阵"),
    "waves": ("waves", "波浪"),
    "confetti": ("confetti", "彩色纸屑"),
    "hearts": ("hearts", "爱心"),
    "notes": ("music notes", "音符"),
    "diamonds": ("diamonds", "菱形"),
    "bars": ("vertical bars", "竖条"),
    "text_lines": ("lines of text", "文字段落"),
    "rays": ("light rays", "光芒"),
    "crosses": ("crosses", "十字"),
    "network": ("network nodes", "网络节点"),
    "zigzag": ("zigzags", "锯齿线"),
    "balloons": ("balloons", "气球"),
    "curtain": ("curtains", "帷幕"),
}

PICTURES: dict[str, tuple[str, str]] = {
    "landscape": ("a mountain landscape", "山景"),
    "seaside": ("a seaside view", "海边风景"),
    "skyline": ("a city skyline", "城市天际线"),
    "portrait": ("a portrait silhouette", "人物剪影"),
    "food": ("a plate of food", "一盘美食"),
    "stage": ("a stage under spotlights", "聚光灯下的舞台"),
    "chart": ("a bar chart", "柱状图"),
    "ball": ("a ball on a field", "球场上的球"),
    "cake": ("a birthday cake", "生日蛋糕"),
    "building": ("a building facade", "建筑外立面"),
    "heart": ("a big heart", "一颗大爱心"),
    "flower": ("a flower", "一朵花"),
    "abstract": ("abstract shapes", "抽象图形"),
    "circuit": ("a circuit board", "电路板"),
    "crowd": ("a crowd of people", "人群"),
    "dumbbell": ("a dumbbell", "哑铃"),
    "wedding_rings": ("two wedding rings", "一对婚戒"),
    "runway": ("a model on a runway", "T台上的模特"),
    "podium": ("a speaker at a podium", "讲台上的演讲者"),
    "pulse": ("a heartbeat line", "心电图"),
}

VENUES: tuple[tuple[str, str], ...] = (
    ("City Hall", "市政厅"),
    ("Expo Center", "会展中心"),
    ("Grand Theatre", "大剧院"),
    ("Central Park", "中央公园"),
    ("Main Campus", "主校区"),
    ("Harbour Square", "海港广场"),
    ("Riverside Hall", "江畔礼堂"),
    ("Civic Center", "市民中心"),
)


@dataclasses.dataclass(frozen=True)
class PosterType:
  """One poster type and its visual and verbal tendencies.

  Attributes:
    name: snake_case id, the ClassLabel name.
    en: English words for the type used in captions ('academic conference').
    zh: Chinese words for the type used in captions ('学术会议').
    palettes: (background, second background, accent) colour names.
    layouts: layout ids, most likely first.
    motifs: background motif ids.
    pictures: picture scene ids for the framed picture.
    title_modifiers: (en, zh) words put before the title noun.
    title_nouns: (en, zh) title nouns; a title is modifier + noun.
  """

  name: str
  en: str
  zh: str
  palettes: tuple[tuple[str, str, str], ...]
  layouts: tuple[str, ...]
  motifs: tuple[str, ...]
  pictures: tuple[str, ...]
  title_modifiers: tuple[tuple[str, str], ...]
  title_nouns: tuple[tuple[str, str], ...]

  @property
  def en_phrase(self) -> str:
    """'concert poster'; types already named '... poster' are not doubled."""
    return self.en if self.en.endswith("poster") else f"{self.en} poster"

  @property
  def zh_phrase(self) -> str:
    """'音乐会海报'; types already named '...海报' are not doubled."""
    return self.zh if self.zh.endswith("海报") else f"{self.zh}海报"


TYPES: tuple[PosterType, ...] = (
    PosterType(
        "concert",
        "concert",
        "音乐会",
        (("navy", "purple", "pink"), ("black", "purple", "gold"), ("purple", "navy", "yellow")),
        ("full_picture", "picture_top", "round_picture"),
        ("notes", "circles", "rays"),
        ("stage", "crowd", "portrait"),
        (("Summer", "夏日"), ("Starlight", "星光"), ("Midnight", "午夜"), ("City", "城市")),
        (
            ("Concert", "音乐会"),
            ("Music Festival", "音乐节"),
            ("Live Tour", "巡回演唱会"),
            ("Jazz Night", "爵士之夜"),
        ),
    ),
    PosterType(
        "academic_conference",
        "academic conference",
        "学术会议",
        (("white", "sky blue", "navy"), ("navy", "blue", "sky blue"), ("grey", "white", "blue")),
        ("title_top", "picture_top"),
        ("network", "dots", "rings"),
        ("building", "podium", "chart"),
        (
            ("International", "国际"),
            ("Annual", "年度"),
            ("Asia-Pacific", "亚太"),
            ("National", "全国"),
        ),
        (
            ("Conference on Machine Learning", "机器学习会议"),
            ("Symposium on Materials Science", "材料科学研讨会"),
            ("Workshop on Computer Vision", "计算机视觉研讨会"),
            ("Forum on Climate Research", "气候研究论坛"),
        ),
    ),
    PosterType(
        "art_exhibition",
        "art exhibition",
        "艺术展",
        (("cream", "beige", "red"), ("white", "grey", "black"), ("yellow", "orange", "blue")),
        ("round_picture", "picture_top", "full_picture"),
        ("circles", "triangles", "stripes"),
        ("abstract", "flower", "portrait"),
        (
            ("Modern", "现代"),
            ("Contemporary", "当代"),
            ("Impressionist", "印象派"),
            ("Young Artists", "青年艺术家"),
        ),
        (
            ("Art Exhibition", "艺术展"),
            ("Painting Show", "绘画展"),
            ("Sculpture Exhibition", "雕塑展"),
            ("Photography Show", "摄影展"),
        ),
    ),
    PosterType(
        "sports_event",
        "sports event",
        "体育赛事",
        (("red", "orange", "white"), ("blue", "navy", "yellow"), ("green", "teal", "white")),
        ("full_picture", "picture_top"),
        ("stripes", "zigzag", "stars"),
        ("ball", "crowd"),
        (("City", "城市"), ("Campus", "校园"), ("Spring", "春季"), ("Champions", "冠军")),
        (
            ("Marathon", "马拉松"),
            ("Football Cup", "足球杯"),
            ("Basketball League", "篮球联赛"),
            ("Swimming Gala", "游泳大赛"),
        ),
    ),
    PosterType(
        "travel",
        "travel",
        "旅游",
        (("sky blue", "teal", "orange"), ("teal", "green", "yellow"), ("orange", "yellow", "blue")),
        ("full_picture", "picture_top", "round_picture"),
        ("waves", "circles", "rays"),
        ("landscape", "seaside", "skyline"),
        (("Explore", "探索"), ("Visit", "畅游"), ("Discover", "发现"), ("Journey to", "走进")),
        (
            ("Yunnan", "云南"),
            ("Guilin", "桂林"),
            ("Hainan Island", "海南岛"),
            ("the Silk Road", "丝绸之路"),
        ),
    ),
    PosterType(
        "hotel",
        "hotel",
        "酒店",
        (("brown", "beige", "gold"), ("navy", "black", "gold"), ("cream", "beige", "brown")),
        ("picture_top", "full_picture"),
        ("diamonds", "stripes", "rings"),
        ("building", "seaside"),
        (("Grand", "盛世"), ("Royal", "皇家"), ("Seaside", "海景"), ("Garden", "花园")),
        (("Hotel", "酒店"), ("Resort", "度假村"), ("Suites", "套房酒店"), ("Inn", "客栈")),
    ),
    PosterType(
        "restaurant_menu",
        "restaurant menu",
        "餐厅菜单",
        (("black", "brown", "orange"), ("cream", "beige", "red"), ("maroon", "red", "cream")),
        ("round_picture", "title_top"),
        ("text_lines", "dots", "diamonds"),
        ("food",),
        (("Sichuan", "川味"), ("Cantonese", "粤式"), ("Seafood", "海鲜"), ("Vegetarian", "素食")),
        (("Menu", "菜单"), ("Dinner Menu", "晚餐菜单"), ("Kitchen", "厨房"), ("Hot Pot", "火锅")),
    ),
    PosterType(
        "fitness",
        "fitness",
        "健身",
        (("black", "grey", "green"), ("orange", "red", "black"), ("black", "navy", "orange")),
        ("full_picture", "picture_top"),
        ("zigzag", "stripes", "bars"),
        ("dumbbell", "portrait"),
        (("Power", "力量"), ("Summer", "夏日"), ("Core", "核心"), ("Morning", "晨间")),
        (
            ("Fitness Camp", "健身营"),
            ("Yoga Class", "瑜伽课"),
            ("Training", "训练"),
            ("Workout Challenge", "健身挑战"),
        ),
    ),
    PosterType(
        "charity",
        "charity",
        "慈善",
        (("green", "mint", "orange"), ("white", "pink", "red"), ("orange", "yellow", "green")),
        ("picture_top", "round_picture"),
        ("hearts", "circles", "dots"),
        ("heart", "crowd"),
        (("Love", "爱心"), ("Hope", "希望"), ("Warm Winter", "暖冬"), ("Green Earth", "绿色地球")),
        (
            ("Charity Run", "公益跑"),
            ("Donation Drive", "募捐活动"),
            ("Volunteer Day", "志愿者日"),
            ("Charity Gala", "慈善晚会"),
        ),
    ),
    PosterType(
        "tech_expo",
        "tech expo",
        "科技博览会",
        (("black", "navy", "teal"), ("navy", "blue", "sky blue"), ("blue", "purple", "mint")),
        ("full_picture", "title_top"),
        ("network", "rings", "bars"),
        ("circuit", "skyline"),
        (("Future", "未来"), ("Smart", "智能"), ("Digital", "数字"), ("AI", "人工智能")),
        (
            ("Tech Expo", "科技博览会"),
            ("Innovation Summit", "创新峰会"),
            ("Robotics Show", "机器人展"),
            ("Developer Conference", "开发者大会"),
        ),
    ),
    PosterType(
        "campus_recruiting",
        "campus recruiting",
        "校园招聘",
        (
            ("blue", "sky blue", "yellow"),
            ("white", "sky blue", "orange"),
            ("teal", "green", "white"),
        ),
        ("title_top", "picture_top"),
        ("triangles", "bars", "dots"),
        ("building", "crowd"),
        (
            ("Autumn", "秋季"),
            ("Spring", "春季"),
            ("Graduate", "毕业生"),
            ("Tech Talent", "科技人才"),
        ),
        (
            ("Campus Recruiting", "校园招聘"),
            ("Job Fair", "招聘会"),
            ("Career Day", "职业日"),
            ("Internship Program", "实习计划"),
        ),
    ),
    PosterType(
        "wedding",
        "wedding",
        "婚礼",
        (("white", "pink", "gold"), ("cream", "pink", "maroon"), ("pink", "white", "gold")),
        ("round_picture", "picture_top"),
        ("hearts", "rings", "diamonds"),
        ("wedding_rings", "flower", "heart"),
        (("Forever", "永恒"), ("Spring", "春日"), ("Garden", "花园"), ("Sweet", "甜蜜")),
        (
            ("Wedding", "婚礼"),
            ("Wedding Ceremony", "婚礼仪式"),
            ("Love Story", "爱情故事"),
            ("Wedding Banquet", "婚宴"),
        ),
    ),
    PosterType(
        "birthday",
        "birthday",
        "生日",
        (
            ("pink", "purple", "yellow"),
            ("yellow", "orange", "pink"),
            ("sky blue", "pink", "yellow"),
        ),
        ("round_picture", "picture_top"),
        ("confetti", "balloons", "stars"),
        ("cake",),
        (("Happy", "快乐"), ("Sweet", "甜蜜"), ("Surprise", "惊喜"), ("Big", "盛大")),
        (
            ("Birthday Party", "生日派对"),
            ("Birthday Bash", "生日狂欢"),
            ("Birthday Celebration", "生日庆典"),
            ("Cake Party", "蛋糕派对"),
        ),
    ),
    PosterType(
        "kids_event",
        "kids event",
        "儿童活动",
        (
            ("yellow", "sky blue", "red"),
            ("green", "yellow", "orange"),
            ("sky blue", "mint", "pink"),
        ),
        ("picture_top", "round_picture"),
        ("stars", "balloons", "waves"),
        ("landscape", "ball", "abstract"),
        (("Little", "小小"), ("Happy", "欢乐"), ("Magic", "魔法"), ("Summer", "夏日")),
        (
            ("Kids Carnival", "儿童嘉年华"),
            ("Story Time", "故事会"),
            ("Art Camp", "美术营"),
            ("Science Day", "科学日"),
        ),
    ),
    PosterType(
        "fashion_show",
        "fashion show",
        "时装秀",
        (("black", "grey", "pink"), ("white", "grey", "black"), ("pink", "purple", "black")),
        ("full_picture", "picture_top"),
        ("stripes", "triangles", "diamonds"),
        ("runway", "portrait"),
        (
            ("Spring Summer", "春夏"),
            ("Autumn Winter", "秋冬"),
            ("Paris", "巴黎"),
            ("Shanghai", "上海"),
        ),
        (
            ("Fashion Week", "时装周"),
            ("Runway Show", "走秀"),
            ("Collection", "系列发布"),
            ("Fashion Show", "时装秀"),
        ),
    ),
    PosterType(
        "theatre",
        "theatre",
        "戏剧",
        (("maroon", "black", "gold"), ("black", "maroon", "red"), ("red", "maroon", "cream")),
        ("picture_top", "round_picture", "full_picture"),
        ("curtain", "rays", "stars"),
        ("stage", "portrait"),
        (("Classic", "经典"), ("Midsummer", "仲夏"), ("Grand", "大型"), ("Night", "夜场")),
        (("Drama", "话剧"), ("Opera", "歌剧"), ("Musical", "音乐剧"), ("Peking Opera", "京剧")),
    ),
    PosterType(
        "community",
        "community",
        "社区活动",
        (("green", "mint", "orange"), ("orange", "cream", "green"), ("teal", "mint", "yellow")),
        ("picture_top", "title_top"),
        ("waves", "dots", "hearts"),
        ("crowd", "flower", "landscape"),
        (("Neighbourhood", "邻里"), ("Weekend", "周末"), ("Green", "绿色"), ("Harvest", "丰收")),
        (
            ("Market", "集市"),
            ("Festival", "节"),
            ("Clean-up Day", "清洁日"),
            ("Block Party", "街坊聚会"),
        ),
    ),
    PosterType(
        "health",
        "health",
        "健康",
        (("white", "mint", "teal"), ("mint", "white", "blue"), ("sky blue", "white", "green")),
        ("title_top", "round_picture"),
        ("crosses", "rings", "waves"),
        ("pulse", "heart"),
        (("Community", "社区"), ("Free", "免费"), ("Family", "家庭"), ("Spring", "春季")),
        (
            ("Health Check", "健康体检"),
            ("Wellness Week", "健康周"),
            ("Nutrition Talk", "营养讲座"),
            ("Flu Vaccine Day", "流感疫苗日"),
        ),
    ),
    PosterType(
        "lecture",
        "lecture",
        "讲座",
        (("cream", "white", "navy"), ("navy", "grey", "orange"), ("grey", "white", "maroon")),
        ("title_top", "round_picture"),
        ("text_lines", "rings", "triangles"),
        ("podium", "chart"),
        (("Public", "公开"), ("Evening", "晚间"), ("Distinguished", "名家"), ("Open", "开放")),
        (
            ("Lecture on History", "历史讲座"),
            ("Talk on Astronomy", "天文学讲座"),
            ("Seminar on Economics", "经济学研讨课"),
            ("Philosophy Lecture", "哲学讲座"),
        ),
    ),
    PosterType(
        "academic_poster",
        "academic poster",
        "学术海报",
        (("white", "grey", "blue"), ("white", "sky blue", "maroon"), ("cream", "white", "green")),
        ("title_top",),
        ("text_lines", "bars", "network"),
        ("chart", "circuit"),
        (("Deep", "深度"), ("Efficient", "高效"), ("Robust", "鲁棒"), ("Scalable", "可扩展")),
        (
            ("Learning for Protein Folding", "蛋白质折叠学习"),
            ("Image Segmentation", "图像分割"),
            ("Graph Neural Networks", "图神经网络"),
            ("Language Models", "语言模型"),
        ),
    ),
)

POSTER_TYPES: tuple[str, ...] = tuple(t.name for t in TYPES)
