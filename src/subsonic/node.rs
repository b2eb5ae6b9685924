//! One answer, two wire formats. A Subsonic answer is a tree whose scalar
//! fields are XML attributes and JSON properties, and whose nested objects
//! are XML child elements and JSON objects or arrays. Handlers build a
//! [`Node`] once; [`render`] writes it inside the `subsonic-response`
//! envelope as XML (namespace `http://subsonic.org/restapi`, elements in
//! the order the XSD's sequences require: the order they were added), as
//! JSON (lists always arrays, single entities always objects, text content
//! as `value`), or as JSONP.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Value};

use super::API_VERSION;
use super::error::ApiError;

/// The XML namespace of every answer (the 1.16.1 XSD's target namespace).
pub const XMLNS: &str = "http://subsonic.org/restapi";

/// A scalar field.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Val {
    fn text(&self) -> Cow<'_, str> {
        match self {
            Val::Str(s) => Cow::Borrowed(s),
            Val::Int(n) => Cow::Owned(n.to_string()),
            Val::Float(x) => Cow::Owned(x.to_string()),
            Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }

    fn json(&self) -> Value {
        match self {
            Val::Str(s) => Value::String(s.clone()),
            Val::Int(n) => Value::from(*n),
            Val::Float(x) => Value::from(*x),
            Val::Bool(b) => Value::Bool(*b),
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Str(s.to_owned())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Str(s)
    }
}
impl From<bool> for Val {
    fn from(b: bool) -> Val {
        Val::Bool(b)
    }
}
impl From<i64> for Val {
    fn from(n: i64) -> Val {
        Val::Int(n)
    }
}
impl From<u32> for Val {
    fn from(n: u32) -> Val {
        Val::Int(i64::from(n))
    }
}
impl From<u64> for Val {
    fn from(n: u64) -> Val {
        Val::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<usize> for Val {
    fn from(n: usize) -> Val {
        Val::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Val {
    fn from(x: f64) -> Val {
        Val::Float(x)
    }
}

/// What a child name holds.
#[derive(Debug, Clone, PartialEq)]
enum Kid {
    /// One nested entity: an XML element, a JSON object.
    One(Node),
    /// A list: repeated XML elements, a JSON array (even of 0 or 1).
    Many(Vec<Node>),
    /// A list of scalars: repeated XML text elements, a JSON array.
    Texts(Vec<Val>),
}

/// An entity of an answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    attrs: Vec<(&'static str, Val)>,
    kids: Vec<(&'static str, Kid)>,
    /// Text content (XML) / `value` (JSON), as a Genre's name.
    text: Option<String>,
}

impl Node {
    pub fn new() -> Node {
        Node::default()
    }

    /// Adds a scalar field.
    pub fn attr(mut self, name: &'static str, value: impl Into<Val>) -> Node {
        self.attrs.push((name, value.into()));
        self
    }

    /// Adds a scalar field when there is a value.
    pub fn opt(self, name: &'static str, value: Option<impl Into<Val>>) -> Node {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    /// Adds one nested entity.
    pub fn child(mut self, name: &'static str, node: Node) -> Node {
        self.kids.push((name, Kid::One(node)));
        self
    }

    /// Adds a list (a JSON array even when empty or of one).
    pub fn list(mut self, name: &'static str, nodes: Vec<Node>) -> Node {
        self.kids.push((name, Kid::Many(nodes)));
        self
    }

    /// Adds a list of scalars.
    pub fn texts(mut self, name: &'static str, values: Vec<Val>) -> Node {
        self.kids.push((name, Kid::Texts(values)));
        self
    }

    /// Sets the text content (`value` in JSON).
    pub fn text(mut self, text: impl Into<String>) -> Node {
        self.text = Some(text.into());
        self
    }

    fn json(&self) -> Value {
        let mut map = Map::new();
        for (name, v) in &self.attrs {
            map.insert((*name).to_owned(), v.json());
        }
        if let Some(t) = &self.text {
            map.insert("value".to_owned(), Value::String(t.clone()));
        }
        for (name, kid) in &self.kids {
            let v = match kid {
                Kid::One(n) => n.json(),
                Kid::Many(ns) => Value::Array(ns.iter().map(Node::json).collect()),
                Kid::Texts(vs) => Value::Array(vs.iter().map(Val::json).collect()),
            };
            map.insert((*name).to_owned(), v);
        }
        Value::Object(map)
    }

    fn write_xml<W: std::io::Write>(
        &self,
        name: &str,
        w: &mut Writer<W>,
        extra: &[(&str, &str)],
    ) -> std::io::Result<()> {
        let mut start = BytesStart::new(name);
        for (k, v) in extra {
            start.push_attribute((*k, *v));
        }
        for (k, v) in &self.attrs {
            start.push_attribute((*k, v.text().as_ref()));
        }
        if self.kids.iter().all(|(_, k)| is_empty(k)) && self.text.is_none() {
            return w.write_event(Event::Empty(start));
        }
        w.write_event(Event::Start(start))?;
        if let Some(t) = &self.text {
            w.write_event(Event::Text(BytesText::new(t)))?;
        }
        for (kname, kid) in &self.kids {
            match kid {
                Kid::One(n) => n.write_xml(kname, w, &[])?,
                Kid::Many(ns) => {
                    for n in ns {
                        n.write_xml(kname, w, &[])?;
                    }
                }
                Kid::Texts(vs) => {
                    for v in vs {
                        w.write_event(Event::Start(BytesStart::new(*kname)))?;
                        w.write_event(Event::Text(BytesText::new(&v.text())))?;
                        w.write_event(Event::End(BytesEnd::new(*kname)))?;
                    }
                }
            }
        }
        w.write_event(Event::End(BytesEnd::new(name)))
    }
}

fn is_empty(k: &Kid) -> bool {
    match k {
        Kid::One(_) => false,
        Kid::Many(ns) => ns.is_empty(),
        Kid::Texts(vs) => vs.is_empty(),
    }
}

/// The wire format a client asked for (`f`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
    /// JSON wrapped in a call to this function.
    Jsonp(String),
}

/// What an answer carries under `subsonic-response`.
pub enum Payload {
    /// Nothing (`ping`, and every call that only does something).
    Empty,
    /// One entity under its name (`album`, `artists`, ...).
    One(&'static str, Node),
    /// A list right under the envelope: a JSON array, repeated XML
    /// elements (`openSubsonicExtensions`).
    List(&'static str, Vec<Node>),
}

/// A call's answer in `format`: the envelope with `status="ok"` and the
/// payload, or `status="failed"` with the error's code and message.
/// Returns (content type, bytes).
pub fn render(format: &Format, result: Result<Payload, &ApiError>) -> (&'static str, Vec<u8>) {
    let server_version = env!("CARGO_PKG_VERSION");
    let (status, payload) = match result {
        Ok(p) => ("ok", p),
        Err(e) => (
            "failed",
            Payload::One(
                "error",
                Node::new()
                    .attr("code", u64::from(e.code()))
                    .attr("message", e.to_string()),
            ),
        ),
    };
    let mut root = Node::new()
        .attr("status", status)
        .attr("version", API_VERSION)
        .attr("type", "tapedeck")
        .attr("serverVersion", server_version)
        .attr("openSubsonic", true);
    root = match payload {
        Payload::Empty => root,
        Payload::One(name, node) => root.child(name, node),
        Payload::List(name, nodes) => root.list(name, nodes),
    };
    match format {
        Format::Xml => {
            let mut w = Writer::new(Vec::new());
            let written = w
                .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
                .and_then(|()| root.write_xml("subsonic-response", &mut w, &[("xmlns", XMLNS)]));
            if let Err(e) = written {
                // Writing to a Vec cannot fail; say so if it ever does.
                log::error!("writing a Subsonic XML answer: {e}");
            }
            ("text/xml; charset=utf-8", w.into_inner())
        }
        Format::Json | Format::Jsonp(_) => {
            let mut map = Map::new();
            map.insert("subsonic-response".to_owned(), root.json());
            let json = Value::Object(map).to_string();
            match format {
                Format::Jsonp(callback) => (
                    "application/javascript; charset=utf-8",
                    format!("{callback}({json});").into_bytes(),
                ),
                _ => ("application/json", json.into_bytes()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn album() -> Node {
        Node::new()
            .attr("id", "al-1")
            .attr("name", "A & B <\"x\">")
            .attr("songCount", 2u32)
            .list(
                "song",
                vec![Node::new().attr("id", "tr-1").attr("isDir", false)],
            )
    }

    #[test]
    fn json_keeps_lists_as_arrays_and_types_as_types() {
        let (ct, body) = render(&Format::Json, Ok(Payload::One("album", album())));
        assert_eq!(ct, "application/json");
        let v: Value = serde_json::from_slice(&body).unwrap();
        let r = &v["subsonic-response"];
        assert_eq!(r["status"], "ok");
        assert_eq!(r["openSubsonic"], true);
        assert_eq!(r["version"], API_VERSION);
        assert_eq!(r["album"]["songCount"], 2);
        assert!(r["album"]["song"].is_array());
        assert_eq!(r["album"]["song"][0]["isDir"], false);
        let empty = Node::new().list("song", vec![]);
        let (_, body) = render(&Format::Json, Ok(Payload::One("album", empty)));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["subsonic-response"]["album"]["song"],
            serde_json::json!([])
        );
    }

    #[test]
    fn xml_is_namespaced_escaped_and_ordered() {
        let (ct, body) = render(&Format::Xml, Ok(Payload::One("album", album())));
        assert!(ct.starts_with("text/xml"));
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
            "{text}"
        );
        assert!(
            text.contains("<subsonic-response xmlns=\"http://subsonic.org/restapi\" status=\"ok\""),
            "{text}"
        );
        assert!(
            text.contains("name=\"A &amp; B &lt;&quot;x&quot;&gt;\""),
            "{text}"
        );
        assert!(
            text.contains("<song id=\"tr-1\" isDir=\"false\"/>"),
            "{text}"
        );
    }

    #[test]
    fn errors_carry_code_and_message_and_jsonp_wraps() {
        let not_found = ApiError::NotFound("song");
        let failed = || Err(&not_found);
        let (_, body) = render(&Format::Json, failed());
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["subsonic-response"]["status"], "failed");
        assert_eq!(v["subsonic-response"]["error"]["code"], 70);
        let (ct, body) = render(&Format::Jsonp("cb".into()), failed());
        assert!(ct.starts_with("application/javascript"));
        assert!(body.starts_with(b"cb({") && body.ends_with(b"});"));
        let (_, body) = render(&Format::Xml, failed());
        assert!(
            String::from_utf8(body)
                .unwrap()
                .contains("<error code=\"70\" message=\"song not found\"/>")
        );
    }

    #[test]
    fn a_list_payload_is_an_array_in_json_and_repeated_in_xml() {
        let ext = |n: &str| {
            Node::new()
                .attr("name", n)
                .texts("versions", vec![Val::Int(1)])
        };
        let list = || Payload::List("openSubsonicExtensions", vec![ext("formPost"), ext("x")]);
        let (_, body) = render(&Format::Json, Ok(list()));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["subsonic-response"]["openSubsonicExtensions"][1]["name"],
            "x"
        );
        let (_, body) = render(&Format::Xml, Ok(list()));
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("<openSubsonicExtensions name=\"formPost\"><versions>1</versions></openSubsonicExtensions><openSubsonicExtensions name=\"x\">"), "{text}");
    }

    #[test]
    fn text_content_and_scalar_lists() {
        let genre = Node::new()
            .attr("songCount", 3u32)
            .attr("albumCount", 1u32)
            .text("Rock");
        let user = Node::new()
            .attr("username", "anna")
            .texts("folder", vec![Val::Int(1)]);
        let node = Node::new().list("genre", vec![genre]).child("user", user);
        let (_, body) = render(&Format::Xml, Ok(Payload::One("x", node.clone())));
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.contains("<genre songCount=\"3\" albumCount=\"1\">Rock</genre>"),
            "{text}"
        );
        assert!(text.contains("<folder>1</folder>"), "{text}");
        let (_, body) = render(&Format::Json, Ok(Payload::One("x", node)));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["subsonic-response"]["x"]["genre"][0]["value"], "Rock");
        assert_eq!(
            v["subsonic-response"]["x"]["user"]["folder"],
            serde_json::json!([1])
        );
    }
}
