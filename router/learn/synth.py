"""A generator of made-up, labelled Jakarta complaints (the shipped development set).

Not real data: templates filled with problem phrases per agency, places, durations and
closings, then pushed through the transforms citizens apply without thinking (slang,
abbreviations, typos, no punctuation, caps lock, English and Betawi words, emoji-less
rants), plus follow-ups that name no problem and reports that lean on a photo. Each
row also carries a CRM-style category (sometimes wrong, sometimes missing) and the
kelurahan, like CRM history does.

Phrase pools are split in two: ``part="dev"`` draws from the first part, ``part="holdout"``
from the rest and from templates the dev part never uses, so the held-out rows test
wording a model trained on the dev part has not seen. Deterministic for a given seed.

Over 300 lines on purpose: most of it is data (the phrase pools and the hand-written
rows), which reads best beside the templates and transforms that use it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

# (agency, CRM-style category, problem phrases). Convention traps are deliberate:
# parking in a gang is the kelurahan's, a street light hidden by a tree is Pertamanan's,
# party banners are Satpol PP's, a TPS is DLH's while rubbish in a gang is the PPSU's.
TOPICS: list[tuple[str, str, list[str]]] = [
    ("binamarga", "Jalan", [
        "jalan berlubang", "jalan rusak parah", "aspal ngelupas", "jalan amblas", "lubang gede di tengah jalan",
        "jalanan ancur kayak kubangan", "aspal bergelombang", "tambalan jalan copot lagi", "jalan retak dan turun",
        "jalan bolong bolong", "potholes everywhere on the road", "jalan rusak bekas galian belum diaspal",
        "aspal baru 2 bulan udah hancur", "jalan berlobang sampe velg penyok",
    ]),
    ("binamarga", "Trotoar", [
        "trotoar rusak", "ubin trotoar copot", "trotoar ambles", "paving block trotoar pada lepas",
        "guiding block trotoar rusak", "trotoar pecah pecah bahaya buat pejalan kaki",
        "trotoar bolong ketutup seng doang",
    ]),
    ("binamarga", "Jaringan Listrik", [
        "lampu PJU mati", "lampu jalan mati total", "penerangan jalan padam gelap gulita", "PJU kedip kedip",
        "tiang lampu jalan miring mau roboh", "kabel menjuntai ke jalan", "kabel fiber optik semrawut",
        "tiang listrik miring", "kabel udara kendor nyangkut motor", "street lights are off",
        "kabel provider numpuk kayak sarang burung",
    ]),
    ("binamarga", "Jembatan/JPO/Halte", [
        "JPO rusak", "lantai JPO bolong", "tangga jembatan penyeberangan karatan", "atap JPO bocor",
        "jembatan kecil retak", "railing jembatan patah",
    ]),
    ("dishub", "Parkir Liar", [
        "parkir liar di bahu jalan raya", "mobil parkir sembarangan di jalan utama", "jukir liar narik tarif mahal",
        "bus parkir di badan jalan protokol", "motor parkir di trotoar jalan raya", "truk parkir nginep di jalan raya",
        "ojol ngetem sampe makan setengah jalan raya", "parkir dua lapis depan ruko jalan besar",
    ]),
    ("dishub", "Arus Lalu Lintas", [
        "macet parah tiap sore", "lampu merah mati", "traffic light error", "angkot ngetem bikin macet",
        "lampu lalin kedip kuning terus", "kemacetan panjang karena putaran balik", "traffic jam every morning",
        "bajaj ngetem di persimpangan",
    ]),
    ("dishub", "Perlengkapan Lalu Lintas", [
        "rambu lalu lintas roboh", "marka jalan udah pudar", "rambu dilarang parkir ketutup", "cermin tikungan pecah",
        "pita penggaduh ilang", "zebra cross ga keliatan",
    ]),
    ("sda", "Penanganan Banjir", [
        "banjir setinggi lutut", "genangan air ga surut surut", "air masuk rumah warga", "banjir sepinggang",
        "banjir tiap ujan deres", "pompa air banjir ga nyala", "flooding again after the rain",
        "air naik sampe teras",
    ]),
    ("sda", "Saluran Air, Kali/Sungai", [
        "kali dangkal penuh lumpur", "tanggul kali jebol", "saluran air besar mampet", "sungai meluap",
        "pintu air ga dibuka", "turap kali longsor", "kali perlu dikeruk", "waduk penuh eceng gondok",
    ]),
    ("distamhut", "Pohon", [
        "pohon tumbang", "dahan pohon patah mau jatuh", "pohon rawan tumbang", "pohon miring ke rumah warga",
        "ranting pohon nutupin lampu jalan jadi gelap", "pohon rimbun nutup lampu PJU", "akar pohon ngerusak rumah",
        "minta pangkas pohon", "tree fell down", "pohon kering udah mati",
    ]),
    ("distamhut", "Taman", [
        "taman kumuh ga terawat", "RPTRA rusak mainan anak patah", "lampu taman mati", "taman jadi tempat mesum",
        "rumput taman tinggi banget", "makam TPU ga terurus", "bangku taman rusak", "air mancur taman mati",
    ]),
    ("dlh", "Pencemaran Lingkungan", [
        "limbah pabrik dibuang ke kali", "asap pabrik bau menyengat", "bakar sampah asapnya kemana mana",
        "air kali item bau limbah", "ikan di kali mati semua kena limbah", "polusi debu dari stockpile batubara",
        "TPS penuh meluber ke jalan", "sampah numpuk di kali", "minyak jelantah dibuang ke got",
    ]),
    ("satpolpp", "PKL Liar", [
        "PKL jualan di trotoar", "pedagang kaki lima nutup jalan", "lapak PKL liar depan stasiun",
        "gerobak PKL mangkal di atas trotoar", "pedagang pasar tumpah ke jalan",
    ]),
    ("satpolpp", "Reklame/Spanduk", [
        "spanduk partai dipasang di pohon", "baliho caleg bertebaran", "banner iklan liar di tiang listrik",
        "reklame ilegal", "spanduk kampanye nutup rambu", "iklan sedot wc ditempel di tembok",
    ]),
    ("satpolpp", "Gangguan Ketenteraman dan Ketertiban", [
        "suara musik keras sampe subuh", "tempat hiburan malam berisik", "balap liar tiap malam minggu",
        "orang mabok bikin ribut", "tawuran remaja", "karaoke ilegal sampai pagi", "kafe remang remang",
        "orang merokok di kawasan dilarang merokok", "noisy party every night",
    ]),
    ("dinsos", "PMKS", [
        "pengemis bawa anak kecil", "gelandangan tidur di halte", "ODGJ ngamuk di jalan", "anak jalanan ngelem",
        "manusia gerobak mangkal", "pengamen maksa minta uang di lampu merah", "orang terlantar sakit di pinggir jalan",
        "manusia silver di perempatan",
    ]),
    ("dinsos", "Bantuan Sosial", [
        "bansos belum cair", "nama saya ga masuk DTKS", "bantuan sembako ga merata", "KJP plus tidak cair",
        "pendataan bansos ga adil",
    ]),
    ("citata", "Perizinan", [
        "bangunan tanpa PBG", "tetangga bangun rumah tanpa IMB", "bangunan liar di bantaran kali",
        "rumah tinggal jadi gudang tanpa izin", "bangunan melebihi KDB", "ruko nambah lantai tanpa izin",
        "bangunan nutup saluran air",
    ]),
    ("dinkes", "Puskesmas", [
        "pelayanan puskesmas lama banget", "antrian RSUD berjam jam", "dokter puskesmas ga ada", "banyak jentik nyamuk",
        "warga kena DBD minta fogging", "makanan katering basi bikin keracunan", "obat di puskesmas kosong",
        "perawat RSUD jutek",
    ]),
    ("gulkarmat", "Penanganan Kebakaran", [
        "kebakaran rumah", "ada ular kobra masuk rumah", "sarang tawon di atap rumah", "api dari korsleting listrik",
        "kucing nyangkut di pohon tinggi", "hidran di gang rusak", "ada biawak masuk rumah", "asap tebal dari gudang",
    ]),
    ("dukcapil", "KTP-el", [
        "e-KTP belum jadi", "blangko KTP habis", "KK belum diupdate", "akta kelahiran anak belum terbit",
        "NIK ga terdaftar", "urus pindah domisili dipersulit", "data kependudukan salah",
    ]),
    ("bapenda", "Pajak Bumi dan Bangunan (PBB)/BPHTB", [
        "tagihan PBB naik gila gilaan", "NJOP ga masuk akal", "BPHTB dobel bayar", "SPPT PBB ga nyampe",
        "pajak kendaraan salah hitung", "denda PBB padahal udah bayar",
    ]),
    ("bpbumd", "Transportasi Publik", [
        "bus Transjakarta telat terus", "AC bus TJ mati", "halte Transjakarta penuh sesak", "MRT sering gangguan",
        "sopir Transjakarta ugal ugalan", "kartu JakLingko error di gate", "LRT berhenti lama",
    ]),
    ("bpbumd", "Jaringan Air Bersih", [
        "air PAM mati", "air PAM keruh", "pipa PAM bocor", "tagihan PAM melonjak", "air ledeng ga ngalir",
    ]),
    ("bpbumd", "Pasar", [
        "pasar Jaya kumuh", "atap pasar bocor", "retribusi pasar mahal", "kios pasar dikunci pengelola",
    ]),
    ("kelurahan", "Sampah", [
        "sampah numpuk di gang", "sampah ga diangkut seminggu", "sampah berserakan di pinggir jalan",
        "tumpukan sampah bau busuk", "tukang sampah ga dateng", "sampah rumah tangga dibuang sembarangan",
    ]),
    ("kelurahan", "Pekerja Penanganan Prasarana dan Sarana Umum Kelurahan (PPSU)", [
        "got mampet", "selokan depan rumah mampet", "rumput liar tinggi di gang", "saluran got bau",
        "got kecil penuh sampah", "tutup got patah", "minta PPSU bersihin got",
    ]),
    ("kelurahan", "Parkir Liar", [
        "mobil parkir di gang nutup jalan", "tetangga parkir mobil di jalan lingkungan", "parkir liar di gang sempit",
        "motor parkir ngalangin jalan gang", "garasi pakai jalan umum di komplek",
    ]),
    ("inspektorat", "Pungutan Liar", [
        "oknum kelurahan minta uang buat urus surat", "pungli pembuatan KTP", "petugas minta uang pelicin",
        "ada pungli di kantor kecamatan", "oknum ASN minta sogokan", "calo di kantor dukcapil dibiarkan petugas",
        "lurah minta setoran dari warga",
    ]),
]

#: Streets and landmarks with the kelurahan they lie in (illustrative pairs for the set;
#: the learned gazetteer is tested on them, not vouched for as survey data).
PLACES: list[tuple[str, str]] = [
    ("jl kemang raya", "Bangka"), ("jl panglima polim", "Melawai"), ("pasar santa", "Kramat Pela"),
    ("stasiun tebet", "Tebet Barat"), ("jl daan mogot", "Kedaung Kali Angke"), ("pasar minggu", "Pasar Minggu"),
    ("stasiun manggarai", "Manggarai"), ("jl kramat raya", "Kramat"), ("pasar baru", "Pasar Baru"),
    ("jl hayam wuruk", "Maphar"), ("stasiun duren kalibata", "Rawajati"), ("jl raya bogor", "Kramat Jati"),
    ("pasar senen", "Senen"), ("jl pramuka", "Utan Kayu Utara"), ("jl dewi sartika", "Cawang"),
    ("jl kyai tapa", "Tomang"), ("terminal pulogadung", "Jatinegara Kaum"),
    ("jl cempaka putih raya", "Cempaka Putih Timur"),
    ("jl sunter permai", "Sunter Agung"), ("jl pluit karang", "Pluit"), ("jl bekasi raya", "Cakung Barat"),
    ("sdn 01 pagi cipete", "Cipete Utara"), ("rsud tarakan", "Cideng"), ("stasiun kebayoran", "Kebayoran Lama Utara"),
    ("jl raya kalimalang", "Pondok Kelapa"), ("jl tanjung duren raya", "Tanjung Duren Utara"),
    ("pasar rumput", "Pasar Manggis"), ("jl gatot subroto", "Kuningan Timur"), ("jl fatmawati", "Cilandak Barat"),
    ("jl tebet raya", "Tebet Timur"),
]
_DEV_PLACES, _HOLD_PLACES = PLACES[:22], PLACES[22:]

_OPEN = ["", "", "min ", "min, ", "pak ", "lapor ", "tolong min ", "halo admin ", "@DKIJakarta ", "assalamualaikum, ",
         "permisi pak, ", "bang ", "selamat pagi, "]
_DUR = ["", "", "udah 2 minggu", "dari kemarin", "sejak bulan lalu", "udah 3 hari", "tiap hari", "dari subuh",
        "since last week", "berbulan bulan"]
_CONSEQ = ["", "", "bahaya buat pengendara", "warga resah", "anak anak jadi takut lewat", "bikin macet",
           "bau banget", "udah ada korban", "kasian warga", "bikin ga nyaman"]
_CLOSE = ["", "", "mohon ditindak", "tolong segera ditangani", "makasih", "thx", "mohon bantuannya",
          "please fix asap", "tolong dong", "gercep ya min", "jangan cuma janji"]
_RANT = ["pemprov ga becus", "parah bgt", "capek lapor terus", "bayar pajak buat apa", "malu sama kota sebelah"]
_DEV_TEMPLATES = [
    "{open}{problem} {where} {dur} {conseq} {close}",
    "{open}{where} {problem}, {dur}. {close}",
    "{problem} {where}!!! {conseq}",
    "{open}mau lapor {problem} {where} {close}",
]
_HOLD_TEMPLATES = [
    "{open}ini gimana sih {where} {problem} lagi {dur} {close}",
    "kepada yth bapak ibu, saya warga {where} ingin menyampaikan bahwa {problem}. {conseq}. {close}",
    "{rant}!! {problem} {where}",
    "{open}{problem}{where2} {dur}",
]
_FOLLOW_UPS = [
    "min laporan saya kemarin kok belum ditindak", "udah lapor 3x ga ada respon",
    "mohon tindak lanjut laporan sebelumnya",
    "ini gimana kelanjutannya min", "tolong cek foto terlampir", "liat aja fotonya min parah kan",
    "lokasi sesuai titik di peta", "status laporan selesai padahal belum dikerjain",
]
_SLANG = [("tidak", "gak"), ("tidak", "ga"), ("sudah", "udah"), ("sudah", "udh"), ("banget", "bgt"), ("jalan", "jln"),
          ("depan", "dpn"), ("yang", "yg"), ("tolong", "tlg"), ("dengan", "dgn"), ("sampai", "sampe"),
          ("rumah", "rmh"), ("mohon", "mhn"), ("saya", "gue"), ("tidak", "kagak"), ("lagi", "lg"),
          ("warga", "wrg"), ("dari", "dr")]


def _where(rng: random.Random, places: list[tuple[str, str]], kelurahan: str) -> tuple[str, str]:
    """A place phrase, and the kelurahan the row is labelled with."""
    roll = rng.random()
    if roll < 0.35:
        street, kel = rng.choice(places)
        return rng.choice(["di ", "dpn ", "deket ", "sekitar ", ""]) + street, kel
    if roll < 0.6:
        return rng.choice(["di kel ", "kel. ", "kelurahan ", "di "]) + kelurahan.lower() + rng.choice(
            ["", f" rt 0{rng.randint(1, 9)} rw 0{rng.randint(1, 9)}", " kec sebelah"]), kelurahan
    if roll < 0.75:
        near = ["di gang sebelah", "di komplek kami", "depan rumah", "di ujung jalan", "dkt masjid"]
        return rng.choice(near), kelurahan
    return "", kelurahan


def _typos(text: str, rng: random.Random, rate: float) -> str:
    words = text.split()
    out = []
    for w in words:
        if len(w) > 4 and rng.random() < rate:
            i = rng.randrange(1, len(w) - 1)
            op = rng.random()
            if op < 0.4:
                w = w[:i] + w[i + 1:]
            elif op < 0.7:
                w = w[:i] + w[i + 1] + w[i] + w[i + 2:]
            else:
                w = w[:i] + w[i] + w[i:]
        out.append(w)
    return " ".join(out)


def _style(text: str, rng: random.Random) -> str:
    for formal, slang in _SLANG:
        if rng.random() < 0.5:
            text = text.replace(formal, slang)
    text = _typos(text, rng, rng.choice([0.0, 0.03, 0.08]))
    roll = rng.random()
    if roll < 0.3:
        text = "".join(ch for ch in text if ch not in ",.!?")
    if roll > 0.92:
        text = text.upper()
    elif roll > 0.6:
        text = text.lower()
    return " ".join(text.split())


def generate(n: int, seed: int = 12, part: str = "dev", kelurahan_names: list[str] | None = None) -> Iterator[dict]:
    """Yield ``n`` labelled rows ``{text, agency, category, kelurahan}`` (see the module docstring).

    Args:
        n: how many rows.
        seed: the random seed; the same seed gives the same rows.
        part: ``dev`` or ``holdout`` (disjoint phrase pools and templates).
        kelurahan_names: names to label rows with (default: a fixed list of real kelurahan).
    """
    rng = random.Random(f"{seed}-{part}")
    kels = kelurahan_names or sorted({k for _, k in PLACES} | {"Kalibata", "Cipinang Melayu", "Rawa Terate",
                                                                 "Kampung Melayu", "Grogol", "Kali Baru"})
    hold = part == "holdout"
    templates = _HOLD_TEMPLATES if hold else _DEV_TEMPLATES
    places = _HOLD_PLACES + _DEV_PLACES[:6] if hold else _DEV_PLACES
    all_cats = sorted({c for _, c, _ in TOPICS})
    for _ in range(n):
        agency, category, phrases = rng.choice(TOPICS)
        cut = max(1, int(len(phrases) * 0.7))
        pool = phrases[cut:] if hold else phrases[:cut]
        problem = rng.choice(pool)
        kel = rng.choice(kels)
        where, kel = _where(rng, places, kel)
        if rng.random() < 0.08:  # a follow-up or a photo report: the text names no problem
            text = f"{rng.choice(_OPEN)}{rng.choice(_FOLLOW_UPS)} {where}"
        else:
            text = rng.choice(templates).format(
                open=rng.choice(_OPEN), problem=problem, where=where, where2=f" ({where})" if where else "",
                dur=rng.choice(_DUR), conseq=rng.choice(_CONSEQ), close=rng.choice(_CLOSE), rant=rng.choice(_RANT))
            if rng.random() < 0.12:  # two problems in one message; the first is what was handled
                other = rng.choice(rng.choice(TOPICS)[2])
                text += rng.choice([" trus juga ", ". selain itu ", " plus "]) + other
            if rng.random() < 0.05:  # a passing mention of pungli: still the agency's job
                text += rng.choice([" katanya mesti bayar dulu, pungli ini", " ada oknum minta uang rokok juga"])
        cat_roll = rng.random()
        shown = "" if cat_roll < 0.2 else rng.choice(all_cats) if cat_roll < 0.35 else category
        if shown and rng.random() < 0.3:
            shown = shown + " " if rng.random() < 0.5 else shown.upper()
        yield {"text": _style(text, rng), "agency": agency, "category": shown, "kelurahan": kel}


#: Hand-written complaints (long stories, rants, Betawi, English), only in the held-out part.
HAND_WRITTEN: list[tuple[str, str, str]] = [
    ("binamarga", "Jalan", ("Jadi gini min, tiap pagi saya antar anak sekolah lewat jalan ini, nah ada lubang yg "
     "ketutup genangan jadi ga keliatan, kemarin tetangga saya jatuh sampe tangannya patah. Udah dilaporin RT "
     "tapi katanya bukan wewenang kelurahan. tolong lah diaspal")),
    ("binamarga", "Jaringan Listrik", ("gelap gulita tiap malem, lampu jalanan mati semua sepanjang 500 meter, "
     "rawan begal")),
    ("dishub", "Parkir Liar", "jalan raya depan mall jadi lahan parkir, mobil berjejer 2 baris, bus ga bisa lewat"),
    ("dishub", "Arus Lalu Lintas", "lampu ijo cuma 10 detik merahnya 3 menit, antrian kendaraan sampe flyover"),
    ("sda", "Penanganan Banjir", ("Rumah kami kebanjiran lagi untuk ketiga kalinya bulan ini. Air dari kali meluap "
     "karena pintu airnya katanya rusak. Barang-barang sudah habis terendam, anak-anak mengungsi ke musholla.")),
    ("sda", "Saluran Air, Kali/Sungai",
     "kalinya udah kaya daratan, endapan lumpur tinggi bgt, ujan dikit langsung luber"),
    ("distamhut", "Pohon", ("ntu pohon gede di pinggir jalan udah doyong aje, kalo angin kenceng goyang2, ngeri "
     "nimpa orang")),
    ("distamhut", "Taman", "the playground in the park is broken, kids got hurt on the rusty swing"),
    ("dlh", "Pencemaran Lingkungan", ("tiap malem ada yang bakar kabel, asapnya item masuk rumah, anak saya "
     "batuk batuk terus")),
    ("dlh", "Pencemaran Lingkungan",
     "TPS di pinggir kali udah overload, lalat dimana mana, air lindinya ngalir ke jalan"),
    ("satpolpp", "Reklame/Spanduk", "bendera dan spanduk partai dipaku di pohon pohon sepanjang jalan, jelek banget"),
    ("satpolpp", "Gangguan Ketenteraman dan Ketertiban", ("tiap malem ada yg nyetel sound system kenceng bgt sampe "
     "jam 3 pagi, udah ditegur malah nantangin")),
    ("dinsos", "PMKS", "ada ibu ibu tidur di emperan toko bawa bayi, kayanya ga punya rumah, tolong dibantu"),
    ("dinsos", "Bantuan Sosial", "udh daftar bansos dari taun lalu tp yg dapet malah yg rumahnya tingkat"),
    ("citata", "Perizinan", ("sebelah rumah saya lagi dibangun gedung 5 lantai, ga ada papan izin, tembok rumah "
     "saya sampe retak kena getaran")),
    ("dinkes", "Puskesmas", ("anak saya demam tinggi 3 hari, hasil lab trombosit turun, di lingkungan kami udah 4 "
     "orang kena, minta diperiksa jentiknya")),
    ("gulkarmat", "Penanganan Kebakaran", ("ada sarang tawon vespa gede bgt di pohon mangga depan rumah, udah 2 "
     "org disengat")),
    ("gulkarmat", "Penanganan Kebakaran", "cincin anak saya nyangkut di jari ga bisa lepas, jarinya bengkak"),
    ("dukcapil", "KTP-el", "udah rekam data dari 2022 sampe skrg KTP blm jadi jadi, tiap ditanya blangko kosong"),
    ("bapenda", "Pajak Bumi dan Bangunan (PBB)/BPHTB", "rumah saya di bawah 2 M harusnya bebas PBB kok tetep ditagih"),
    ("bpbumd", "Transportasi Publik", "bus TJ nya ngetem lama banget di halte, penumpang desek2an, ga ada petugas"),
    ("bpbumd", "Jaringan Air Bersih", "air bersih ga ngalir dari subuh, mandi aja ga bisa, mohon PAM Jaya cek"),
    ("kelurahan", "Sampah", "sampah di pojok gang udah kaya gunung, tikus gede2 keluar masuk rumah warga"),
    ("kelurahan", "Parkir Liar", "warga komplek parkir mobil di kiri kanan jalan komplek, ambulans ga bisa masuk"),
    ("kelurahan", "Pekerja Penanganan Prasarana dan Sarana Umum Kelurahan (PPSU)", ("selokan di gang mampet "
     "airnya item dan bau, nyamuk banyak")),
    ("inspektorat", "Pungutan Liar", ("Saya mengurus surat pengantar di kantor kelurahan dan diminta membayar "
     "Rp 200.000 tanpa kuitansi oleh petugas loket. Mohon diusut.")),
]


def hand_written() -> list[dict]:
    """The hand-written held-out rows (kelurahan unknown)."""
    return [{"text": t, "agency": a, "category": c, "kelurahan": ""} for a, c, t in HAND_WRITTEN]
