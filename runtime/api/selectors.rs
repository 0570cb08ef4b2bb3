//! `labelSelector` and `fieldSelector` of list and watch requests, pure,
//! with the grammar of apimachinery's `labels.Parse` and `fields`:
//! label requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
//! `k`, `!k`, `k>n`, `k<n`, joined by commas; field terms `f=v`, `f==v`,
//! `f!=v` over the fields kube-apiserver selects by.

use serde_json::Value;

use crate::Error;

/// One label requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed `labelSelector`; empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector(Vec<Requirement>);

/// A label key or value: what a label may hold (values may be empty).
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

/// A token of a label selector, as apimachinery's lexer splits one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Identifier(String),
    /// `!`
    Not,
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// `>`
    Greater,
    /// `<`
    Less,
    Open,
    Close,
    Comma,
    End,
}

impl Token {
    /// The text the parser's messages quote.
    fn literal(&self) -> &str {
        match self {
            Token::Identifier(s) => s,
            Token::Not => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::Greater => ">",
            Token::Less => "<",
            Token::Open => "(",
            Token::Close => ")",
            Token::Comma => ",",
            Token::End => "",
        }
    }
}

/// The tokens of `selector`: runs of characters other than blanks and
/// `!=<>(),` are identifiers (`in` and `notin` among them).
fn tokens(selector: &str) -> Vec<Token> {
    let special = |c: char| "!=<>(),".contains(c);
    let mut out = Vec::new();
    let mut chars = selector.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if special(c) {
            chars.next();
            let doubled = chars.peek() == Some(&'=');
            out.push(match c {
                '!' | '=' if doubled => {
                    chars.next();
                    if c == '!' { Token::NotEquals } else { Token::DoubleEquals }
                }
                '!' => Token::Not,
                '=' => Token::Equals,
                '>' => Token::Greater,
                '<' => Token::Less,
                '(' => Token::Open,
                ')' => Token::Close,
                _ => Token::Comma,
            });
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek().filter(|c| !c.is_whitespace() && !special(**c)) {
            word.push(c);
            chars.next();
        }
        out.push(Token::Identifier(word));
    }
    out.push(Token::End);
    out
}

/// A parse of a label selector's tokens, with apimachinery's messages.
struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.at += 1;
        t
    }

    fn selector(&mut self) -> Result<Vec<Requirement>, String> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Token::Identifier(_) | Token::Not => {
                    out.push(self.requirement().map_err(|e| format!("unable to parse requirement: {e}"))?);
                    match self.next() {
                        Token::End => return Ok(out),
                        Token::Comma => {
                            if !matches!(self.peek(), Token::Identifier(_) | Token::Not) {
                                return Err(format!("found '{}', expected: identifier after ','", self.peek().literal()));
                            }
                        }
                        t => return Err(format!("found '{}', expected: ',' or 'end of string'", t.literal())),
                    }
                }
                Token::End => return Ok(out),
                t => return Err(format!("found '{}', expected: !, identifier, or 'end of string'", t.literal())),
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let mut not = false;
        let mut t = self.next();
        if t == Token::Not {
            not = true;
            t = self.next();
        }
        let Token::Identifier(key) = t else { return Err(format!("found '{}', expected: identifier", t.literal())) };
        if !plain(&key) {
            return Err(format!("invalid label key {key:?}"));
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(if not { Requirement::NotExists(key) } else { Requirement::Exists(key) });
        }
        if not {
            return Err(format!("found '{}', expected: ',' or 'end of string'", self.peek().literal()));
        }
        let op = self.next();
        match op {
            Token::Identifier(w) if w == "in" || w == "notin" => {
                let values = self.values()?;
                Ok(if w == "in" { Requirement::In(key, values) } else { Requirement::NotIn(key, values) })
            }
            Token::Equals | Token::DoubleEquals | Token::NotEquals | Token::Greater | Token::Less => {
                let value = match self.peek() {
                    Token::End | Token::Comma => String::new(),
                    Token::Identifier(v) => {
                        let v = v.clone();
                        self.next();
                        v
                    }
                    t => return Err(format!("found '{}', expected: identifier", t.literal())),
                };
                if !plain(&value) {
                    return Err(format!("invalid label value: {value:?}"));
                }
                let number = || value.parse::<i64>().map_err(|_| "for 'Gt', 'Lt' operators, the value must be an integer".to_owned());
                Ok(match op {
                    Token::NotEquals => Requirement::NotEquals(key, value),
                    Token::Greater => Requirement::GreaterThan(key, number()?),
                    Token::Less => Requirement::LessThan(key, number()?),
                    _ => Requirement::Equals(key, value),
                })
            }
            t => Err(format!("found '{}', expected: in, notin, =, ==, !=, gt, lt", t.literal())),
        }
    }

    /// `(a, b, ...)`.
    fn values(&mut self) -> Result<Vec<String>, String> {
        let t = self.next();
        if t != Token::Open {
            return Err(format!("found '{}' expected: '('", t.literal()));
        }
        let mut values = Vec::new();
        if self.peek() == &Token::Close {
            self.next();
            return Ok(values);
        }
        loop {
            match self.next() {
                Token::Identifier(v) => {
                    if !plain(&v) {
                        return Err(format!("invalid label value: {v:?}"));
                    }
                    values.push(v);
                    match self.next() {
                        Token::Comma => {}
                        Token::Close => return Ok(values),
                        t => return Err(format!("found '{}', expected: ',' or ')'", t.literal())),
                    }
                }
                // An empty value between commas, or before the end.
                Token::Comma => values.push(String::new()),
                Token::Close => {
                    values.push(String::new());
                    return Ok(values);
                }
                t => return Err(format!("found '{}', expected: ',', or identifier", t.literal())),
            }
        }
    }
}

impl LabelSelector {
    pub(crate) fn parse(selector: &str) -> Result<Self, Error> {
        let mut parser = Parser { tokens: tokens(selector), at: 0 };
        parser.selector().map(Self).map_err(Error::BadRequest)
    }

    /// Whether labels (looked up by `label`) meet every requirement.
    pub(crate) fn selects<'a>(&self, label: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => label(k).is_none_or(|l| !vs.iter().any(|v| v == l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::NotExists(k) => label(k).is_none(),
            Requirement::GreaterThan(k, n) => label(k).and_then(|l| l.parse::<i64>().ok()).is_some_and(|l| l > *n),
            Requirement::LessThan(k, n) => label(k).and_then(|l| l.parse::<i64>().ok()).is_some_and(|l| l < *n),
        })
    }

    /// Whether `pod`'s labels match.
    pub(crate) fn selects_pod(&self, pod: &k8s_openapi::api::core::v1::Pod) -> bool {
        let labels = pod.metadata.labels.as_ref();
        self.selects(|k| labels.and_then(|l| l.get(k)).map(String::as_str))
    }

    /// Whether an object's labels (`metadata.labels`) match.
    pub(crate) fn selects_value(&self, object: &Value) -> bool {
        self.selects(|k| object.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str))
    }
}

/// One `fieldSelector` term: the field, whether it must equal, the value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldTerm {
    field: String,
    equal: bool,
    value: String,
}

/// A parsed `fieldSelector`; empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector(Vec<FieldTerm>);

/// The pod fields kube-apiserver selects by, and where they are.
const POD_FIELDS: [(&str, &str); 10] = [
    ("metadata.name", "/metadata/name"),
    ("metadata.namespace", "/metadata/namespace"),
    ("spec.nodeName", "/spec/nodeName"),
    ("spec.restartPolicy", "/spec/restartPolicy"),
    ("spec.schedulerName", "/spec/schedulerName"),
    ("spec.serviceAccountName", "/spec/serviceAccountName"),
    ("spec.hostNetwork", "/spec/hostNetwork"),
    ("status.phase", "/status/phase"),
    ("status.podIP", "/status/podIP"),
    ("status.nominatedNodeName", "/status/nominatedNodeName"),
];

/// What every kind selects by.
const OBJECT_FIELDS: [(&str, &str); 2] = [("metadata.name", "/metadata/name"), ("metadata.namespace", "/metadata/namespace")];

/// The kinds a field selector applies to.
#[derive(Clone, Copy)]
pub(crate) enum Fields {
    Pods,
    /// Events also select by the object they are about.
    Events,
    Objects,
}

impl Fields {
    fn pointer(self, field: &str) -> Option<String> {
        let known: &[(&str, &str)] = match self {
            Fields::Pods => &POD_FIELDS,
            Fields::Objects => &OBJECT_FIELDS,
            Fields::Events => {
                if let Some(rest) = field.strip_prefix("involvedObject.") {
                    return Some(format!("/involvedObject/{rest}"));
                }
                if matches!(field, "reason" | "type" | "source") {
                    return Some(format!("/{field}"));
                }
                &OBJECT_FIELDS
            }
        };
        known.iter().find(|(f, _)| *f == field).map(|(_, p)| (*p).to_owned())
    }
}

impl FieldSelector {
    pub(crate) fn parse(selector: &str, fields: Fields) -> Result<Self, Error> {
        let mut out = Vec::new();
        for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v.strip_prefix('=').unwrap_or(v))
            } else {
                return Err(Error::BadRequest(format!("invalid selector: '{selector}'; can't understand '{term}'")));
            };
            if fields.pointer(field).is_none() {
                // kube-apiserver's words: the kinds that select only by
                // name and namespace say so.
                return Err(Error::BadRequest(match fields {
                    Fields::Objects => format!("\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""),
                    _ => format!("field label not supported: {field}"),
                }));
            }
            out.push(FieldTerm { field: field.to_owned(), equal, value: value.to_owned() });
        }
        Ok(Self(out))
    }

    /// The object name an `involvedObject.name=` term asks for (Events).
    pub(crate) fn involved_name(&self) -> Option<&str> {
        self.0.iter().find(|t| t.field == "involvedObject.name" && t.equal).map(|t| t.value.as_str())
    }

    /// The name a `metadata.name=` term asks for, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.0.iter().find(|t| t.field == "metadata.name" && t.equal).map(|t| t.value.as_str())
    }

    /// Whether `object` (as JSON) meets every term; a missing field is
    /// the empty string, and booleans compare as `true`/`false`.
    pub(crate) fn selects(&self, object: &Value, fields: Fields) -> bool {
        self.0.iter().all(|t| {
            let at = fields.pointer(&t.field).and_then(|p| object.pointer(&p).cloned());
            let actual = match at {
                Some(Value::String(s)) => s,
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Number(n)) => n.to_string(),
                _ if t.field == "spec.hostNetwork" => "false".into(),
                _ => String::new(),
            };
            (actual == t.value) == t.equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<&'static str> {
        let owned: Vec<(String, &'static str)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), &*Box::leak((*v).to_owned().into_boxed_str()))).collect();
        move |k: &str| owned.iter().find(|(key, _)| key == k).map(|(_, v)| *v)
    }

    #[test]
    fn set_based_and_equality_requirements_select_as_kubernetes_does() {
        let web = labels(&[("app", "web"), ("tier", "front"), ("rank", "3")]);
        let db = labels(&[("app", "db")]);
        let sel = |s: &str| LabelSelector::parse(s).unwrap();
        assert!(sel("").selects(&web));
        assert!(sel("app=web,tier==front").selects(&web));
        assert!(sel("app in (web, db)").selects(&web) && sel("app in (web, db)").selects(&db));
        assert!(!sel("app notin (web)").selects(&web) && sel("app notin (web)").selects(&db));
        assert!(sel("tier").selects(&web) && !sel("tier").selects(&db));
        assert!(sel("!tier").selects(&db) && !sel("!tier").selects(&web));
        assert!(sel("tier!=back").selects(&db), "!= selects objects without the label");
        assert!(sel("rank>2,rank<4").selects(&web) && !sel("rank>3").selects(&web));
        assert!(sel("app in (web,db),tier notin (back)").selects(&web));
        for bad in ["app in web", "a b c", "=x", "app=(x)", "rank>x", "app in (web"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
        let e = LabelSelector::parse("app in (web").unwrap_err().to_string();
        assert_eq!(e, "unable to parse requirement: found '', expected: ',' or ')'", "kube-apiserver's words");
    }

    #[test]
    fn field_selectors_select_pods_by_phase_name_and_node() {
        let pod = serde_json::json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let sel = |s: &str| FieldSelector::parse(s, Fields::Pods).unwrap();
        assert!(sel("status.phase=Running,metadata.name==web").selects(&pod, Fields::Pods));
        assert!(!sel("status.phase!=Running").selects(&pod, Fields::Pods));
        assert!(sel("spec.nodeName=n1,spec.hostNetwork=false").selects(&pod, Fields::Pods));
        assert_eq!(sel("metadata.name=web").name(), Some("web"));
        let e = FieldSelector::parse("spec.containers=x", Fields::Pods).unwrap_err().to_string();
        assert_eq!(e, "field label not supported: spec.containers");
        assert!(FieldSelector::parse("status.phase=Running", Fields::Objects).is_err(), "only pods select by phase");
    }
}
