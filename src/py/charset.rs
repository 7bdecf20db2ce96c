//! Which codec a response's text is decoded with: the charset its
//! Content-Type names, only if that is a real character set.

use http::header::CONTENT_TYPE;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::bridge::asyncio::module_attr;
use crate::http::response::HeaderList;

/// The codecs (by Python's canonical name) a body may be decoded with:
/// character sets, each decoding in time linear in the body's size.
const TEXT_ENCODINGS: &[&str] = &[
    "ascii",
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-be",
    "utf-16-le",
    "utf-32",
    "utf-32-be",
    "utf-32-le",
    "iso8859-1",
    "iso8859-2",
    "iso8859-3",
    "iso8859-4",
    "iso8859-5",
    "iso8859-6",
    "iso8859-7",
    "iso8859-8",
    "iso8859-9",
    "iso8859-10",
    "iso8859-11",
    "iso8859-13",
    "iso8859-14",
    "iso8859-15",
    "iso8859-16",
    "cp037",
    "cp273",
    "cp424",
    "cp437",
    "cp500",
    "cp720",
    "cp737",
    "cp775",
    "cp850",
    "cp852",
    "cp855",
    "cp856",
    "cp857",
    "cp858",
    "cp860",
    "cp861",
    "cp862",
    "cp863",
    "cp864",
    "cp865",
    "cp866",
    "cp869",
    "cp874",
    "cp875",
    "cp932",
    "cp949",
    "cp950",
    "cp1006",
    "cp1026",
    "cp1125",
    "cp1140",
    "cp1250",
    "cp1251",
    "cp1252",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp1258",
    "koi8-r",
    "koi8-t",
    "koi8-u",
    "kz1048",
    "ptcp154",
    "tis-620",
    "hp-roman8",
    "mac-arabic",
    "mac-croatian",
    "mac-cyrillic",
    "mac-farsi",
    "mac-greek",
    "mac-iceland",
    "mac-latin2",
    "mac-roman",
    "mac-romanian",
    "mac-turkish",
    "big5",
    "big5hkscs",
    "gb2312",
    "gbk",
    "gb18030",
    "hz",
    "euc_jp",
    "euc_jis_2004",
    "euc_jisx0213",
    "euc_kr",
    "johab",
    "shift_jis",
    "shift_jis_2004",
    "shift_jisx0213",
    "iso2022_jp",
    "iso2022_jp_1",
    "iso2022_jp_2",
    "iso2022_jp_2004",
    "iso2022_jp_3",
    "iso2022_jp_ext",
    "iso2022_kr",
];

/// The charset Content-Type names, if Python knows it as one of the
/// text encodings in [`TEXT_ENCODINGS`]. The server picks the codec, so
/// codecs that are not charsets (base64, zlib, rot13) or whose decoding
/// is superlinear (punycode) are never used: a body then reads as UTF-8.
pub fn text_charset(headers: &HeaderList, py: Python<'_>) -> Option<String> {
    static LOOKUP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let label = charset(headers)?;
    let codec = module_attr(py, &LOOKUP, "codecs", "lookup")
        .and_then(|lookup| lookup.call1((label.as_str(),)))
        .ok()?;
    let name: String = codec.getattr("name").ok()?.extract().ok()?;
    TEXT_ENCODINGS.contains(&name.as_str()).then_some(label)
}

/// The charset named by Content-Type, if any.
fn charset(headers: &HeaderList) -> Option<String> {
    let value = headers.get(CONTENT_TYPE.as_str())?;
    let text = std::str::from_utf8(value).ok()?;
    text.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}
