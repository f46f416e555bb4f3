"""Safe outputs (issue 10): the HTML status report runs no script that portal text carries, even without its Content
Security Policy (escaping alone holds, and the probe that would see a script run is shown to see one); file-store
paths come only from content hashes; every SQL statement in the product code is parameterised.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
from dataclasses import replace
from datetime import date
from pathlib import Path

import lxml.html
import pytest

from extract import extract_document
from nianbao.status import status_command
from registry.units import COUNTY_GOVERNMENT, TOWNSHIP, Unit
from storage import FileStore, Store

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "fixtures" / "seeds"
AS_OF = date(2021, 6, 1)
PWNED = "pwned"
# Each would change the page's title, or add an element, if the browser ran it.
PAYLOADS = (
    f"<script>document.title='{PWNED}'</script>",
    f'<img src=x onerror="document.title=\'{PWNED}\'">',
    f'"><svg onload="document.title=\'{PWNED}\'"></svg>',
    f"'><iframe srcdoc=\"<script>parent.document.title='{PWNED}'</script>\"></iframe>",
    f"</title></style><script>document.title='{PWNED}'</script>",
    "&lt;script&gt; 与 &amp;amp; 之类的实体",
)
JS_URL = f"javascript:document.title='{PWNED}'"


def _unit(unit_id: str, name: str, level: str) -> Unit:
    host = f"u{unit_id}.xingguo.example.gov.cn"
    return Unit(unit_id=unit_id, name=name, division_code=unit_id[:12], level=level, province="江西省",
                parent_county="兴国县", portal_url=f"http://{host}/", column_urls=(f"http://{host}/ndbg/",))


def _hostile_database(tmp_path: Path) -> list[str]:
    """A database whose units, reports and errors carry the payloads; the texts a reader must see as they are."""
    names = [f"{payload}乡人民政府" for payload in PAYLOADS]
    units = [_unit(f"3607321{i:02d}000", name, TOWNSHIP) for i, name in enumerate(names)]
    down = _unit("360732000000", f"兴国县{PAYLOADS[1]}", COUNTY_GOVERNMENT)
    (seed,) = extract_document((SEEDS / "002.txt").read_bytes(), filename="002.txt")
    key = "requests.new_received.total"
    total = int(seed.fields[key].value)  # type: ignore[arg-type]
    broken = replace(seed, unit=PAYLOADS[0], title=PAYLOADS[2], published_on="2021-03-25",  # late, and H1 broken
                     narrative={k: PAYLOADS[3] + text for k, text in seed.narrative.items()},
                     fields={**seed.fields, key: replace(seed.fields[key], value=total + 1, raw=str(total + 1))})
    with Store.open(tmp_path / "nianbao.db", tmp_path / "files") as store:
        store.upsert_units([*units, down])
        run = store.start_run("2021-05-31")
        sha = store.save_document(PAYLOADS[4].encode(), "text/html")
        store.save_report(units[1].unit_id, broken, sha, JS_URL, run_id=run)
        store.save_report(units[2].unit_id, replace(broken, published_on="2021-01-20"), sha,
                          f"http://u.example.gov.cn/a\"><script>document.title='{PWNED}'</script>", run_id=run)
        for night in ("2021-05-29", "2021-05-30", "2021-05-31"):
            failed = store.start_run(night)
            store.record_error(failed, "connection", PAYLOADS[0], unit_id=down.unit_id, url=JS_URL)
            store.finish_run(failed)
        store.finish_run(run)
    return [*names, down.name]


def _dom(page: Path, profile: Path) -> lxml.html.HtmlElement:
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: scripts/setup.sh installs it"
    done = subprocess.run([binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=90, check=True)
    return lxml.html.fromstring(done.stdout)


def _without_csp(page: Path) -> Path:
    """The page without its Content-Security-Policy: only the escaping stands between the payloads and the browser."""
    text = page.read_text(encoding="utf-8")
    start = text.index('<meta http-equiv="Content-Security-Policy"')
    bare = page.with_name(f"bare-{page.name}")
    bare.write_text(text[:start] + text[text.index(">", start) + 1:], encoding="utf-8")
    return bare


def test_no_script_in_report_text_runs_in_the_html_status_report(tmp_path: Path) -> None:
    shown = _hostile_database(tmp_path)
    page = tmp_path / "status.html"
    assert status_command(tmp_path / "nianbao.db", tmp_path / "files", 2020, "html", page, AS_OF) == 1
    bare = _without_csp(page)
    dom = _dom(bare, tmp_path / "profile")
    title = dom.findtext(".//title")
    assert title and PWNED not in title
    assert not dom.xpath("//script | //img | //svg | //iframe | //*[@onerror or @onload]")
    assert not [a for a in dom.xpath("//a/@href") if not a.startswith(("http://", "https://", "#"))]
    text = dom.text_content()
    assert all(name in text for name in shown), [n for n in shown if n not in text]  # shown as the text it is
    assert JS_URL in text

    # The probe sees a script that runs: the same page with one name left unescaped changes its title.
    control = bare.with_name("control.html")
    control.write_text(bare.read_text(encoding="utf-8").replace("&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;",
                                                                PAYLOADS[0], 1), encoding="utf-8")
    assert control.read_text(encoding="utf-8") != bare.read_text(encoding="utf-8")
    assert _dom(control, tmp_path / "profile").findtext(".//title") == PWNED


# ------------------------------------------------------------------------------------------------ file store paths


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..", "a" * 64 + "/../x", "A" * 64, "0" * 63,
                                  "0" * 64 + "\x00", "report.pdf", "%2e%2e%2fetc%2fpasswd"])
def test_file_store_paths_come_only_from_content_hashes(tmp_path: Path, name: str) -> None:
    files = FileStore(tmp_path / "store")
    with pytest.raises(ValueError, match="not a sha256"):
        files.path(name)


def test_a_document_is_stored_under_its_hash_whatever_it_was_called(tmp_path: Path) -> None:
    with Store.open(tmp_path / "nianbao.db", tmp_path / "store") as store:
        sha256 = store.save_document(b"%PDF-1.7 ../../etc/passwd", "application/pdf; name=\"../../x.pdf\"")
    stored = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert [p.relative_to(tmp_path / "store").as_posix() for p in stored] == [f"{sha256[:2]}/{sha256[2:4]}/{sha256}"]


# ------------------------------------------------------------------------------------------------ SQL


PRODUCT = ("checks", "crawler", "exports", "extract", "nianbao", "registry", "simulator", "spiders", "storage",
           "scheduler.py", "bench")
_SQL_CALLS = {"execute", "executemany", "executescript", "query", "read_sql", "read_sql_query", "execute_sql"}
# Statement text from a variable that holds only code, with where it comes from.
_REVIEWED = {"storage/store.py: script"}  # the migrations, storage/schema.py MIGRATIONS


def _constant(node: ast.expr) -> bool:
    """SQL text that holds nothing but code: literals, UPPER_CASE constants, and f-strings or sums of those."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        return name.lstrip("_").isupper()
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _constant(node.left) and _constant(node.right)
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) or _constant(v.value) for v in node.values)  # type: ignore[attr-defined]
    return False


def _unsafe_sql() -> list[str]:
    found = []
    for root in PRODUCT:
        for path in sorted((REPO / root).rglob("*.py")) if (REPO / root).is_dir() else [REPO / root]:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _SQL_CALLS
                        and node.args and not _constant(node.args[0])):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node.args[0])[:80]}")
    return [site for site in found if f"{site.split(':')[0]}: {site.split(': ', 1)[1]}" not in _REVIEWED]


def test_every_sql_statement_is_parameterised() -> None:
    """Values reach SQL only as parameters: statement text is built from literals and code constants alone."""
    assert _unsafe_sql() == []
