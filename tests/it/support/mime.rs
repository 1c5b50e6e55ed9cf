//! Reading delivered messages as a mail client would: headers unfolded with their RFC 2047
//! words decoded, and the text of every text part with its transfer encoding undone.

/// The first header `name` (any case) of a message, unfolded, trimmed, with RFC 2047
/// encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded.
pub fn header(raw: &str, name: &str) -> Option<String> {
    let (headers, _) = split_message(raw);
    headers
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| decode_encoded_words(&v))
}

/// The decoded text of a message: every text/* part that is not an attachment (walking
/// nested multiparts), quoted-printable or base64 undone, joined by newlines; line ends
/// are `\n`.
pub fn body_text(raw: &str) -> String {
    let mut parts = Vec::new();
    collect_text(raw, &mut parts);
    parts.join("\n")
}

/// Unfolded headers and the body of a message or MIME part, line ends made `\n`.
fn split_message(raw: &str) -> (Vec<(String, String)>, String) {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = if let Some(body) = raw.strip_prefix('\n') {
        ("", body)
    } else {
        raw.split_once("\n\n").unwrap_or((raw.as_str(), ""))
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    for (_, value) in &mut headers {
        *value = value.trim().to_owned();
    }
    (headers, body.to_owned())
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Appends the decoded text parts of a message or MIME part to `out`.
fn collect_text(raw: &str, out: &mut Vec<String>) {
    let (headers, body) = split_message(raw);
    let (mime, params) = parse_content_type(find_header(&headers, "Content-Type"));
    if mime.starts_with("multipart/") {
        if let Some((_, boundary)) = params.iter().find(|(k, _)| k == "boundary") {
            for part in split_multipart(&body, boundary) {
                collect_text(&part, out);
            }
        }
        return;
    }
    let attachment = find_header(&headers, "Content-Disposition")
        .is_some_and(|d| d.to_ascii_lowercase().starts_with("attachment"));
    if !mime.starts_with("text/") || attachment {
        return;
    }
    let charset = params
        .iter()
        .find(|(k, _)| k == "charset")
        .map_or("us-ascii", |(_, v)| v.as_str());
    let encoding = find_header(&headers, "Content-Transfer-Encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => decode_quoted_printable(&body),
        "base64" => decode_base64(&body),
        _ => body.into_bytes(),
    };
    out.push(decode_charset(&bytes, charset).replace("\r\n", "\n"));
}

/// The lowercased media type and the parameters (names lowercased, values unquoted) of a
/// Content-Type value; `text/plain` when there is none.
fn parse_content_type(value: Option<&str>) -> (String, Vec<(String, String)>) {
    let Some(value) = value else {
        return ("text/plain".into(), Vec::new());
    };
    // Split on `;` outside quoted strings.
    let mut fields = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        let field = fields.last_mut().expect("at least one field");
        if escaped {
            field.push(c);
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ';' && !quoted {
            fields.push(String::new());
        } else {
            field.push(c);
        }
    }
    let mime = fields[0].trim().to_ascii_lowercase();
    let params = fields[1..]
        .iter()
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (mime, params)
}

/// The parts of a multipart body (preamble and epilogue dropped).
fn split_multipart(body: &str, boundary: &str) -> Vec<String> {
    let delimiter = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in body.split('\n') {
        // Transport padding after a delimiter is allowed.
        let trimmed = line.trim_end();
        if trimmed == delimiter || trimmed == close {
            if let Some(lines) = current.take() {
                parts.push(lines.join("\n"));
            }
            if trimmed == close {
                break;
            }
            current = Some(Vec::new());
        } else if let Some(lines) = current.as_mut() {
            lines.push(line);
        }
    }
    if let Some(lines) = current {
        parts.push(lines.join("\n"));
    }
    parts
}

/// Quoted-printable (RFC 2045) to bytes: soft line breaks `=` removed, `=XX` decoded,
/// trailing whitespace on encoded lines dropped.
fn decode_quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut soft_break = true;
    for line in text.split('\n') {
        if !soft_break {
            out.push(b'\n');
        }
        let line = line.trim_end_matches([' ', '\t', '\r']);
        let (line, soft) = match line.strip_suffix('=') {
            Some(line) => (line, true),
            None => (line, false),
        };
        soft_break = soft;
        unescape_hex(line.as_bytes(), &mut out);
    }
    out
}

/// Copies `bytes` into `out`, turning each `=XX` into the byte 0xXX.
fn unescape_hex(bytes: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'=')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        if let Some(byte) = hex {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
}

/// Base64 to bytes, skipping line breaks, padding and anything else outside the alphabet.
fn decode_base64(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Bytes in `charset` to text (UTF-8 and ASCII; Latin-1; anything else read as UTF-8).
fn decode_charset(bytes: &[u8], charset: &str) -> String {
    match charset.to_ascii_lowercase().as_str() {
        "iso-8859-1" | "latin1" | "latin-1" => bytes.iter().copied().map(char::from).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Decodes the RFC 2047 encoded words of an unfolded header value; whitespace between two
/// encoded words is dropped, as the RFC says.
fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut after_encoded_word = false;
    let mut rest = value;
    while !rest.is_empty() {
        let space_len = rest.len() - rest.trim_start().len();
        if space_len > 0 {
            pending_space.push_str(&rest[..space_len]);
            rest = &rest[space_len..];
            continue;
        }
        let word_len = rest.find([' ', '\t']).unwrap_or(rest.len());
        let word = &rest[..word_len];
        rest = &rest[word_len..];
        match decode_encoded_word(word) {
            Some(decoded) => {
                if !after_encoded_word {
                    out.push_str(&pending_space);
                }
                out.push_str(&decoded);
                after_encoded_word = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(word);
                after_encoded_word = false;
            }
        }
        pending_space.clear();
    }
    out.push_str(&pending_space);
    out
}

/// `=?charset?B|Q?text?=` decoded, or None when `word` is not an encoded word.
fn decode_encoded_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut fields = inner.splitn(3, '?');
    let (charset, encoding, text) = (fields.next()?, fields.next()?, fields.next()?);
    // RFC 2231 allows a language after the charset: `utf-8*en`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let bytes = match encoding {
        "B" | "b" => decode_base64(text),
        "Q" | "q" => {
            let mut bytes = Vec::with_capacity(text.len());
            unescape_hex(text.replace('_', " ").as_bytes(), &mut bytes);
            bytes
        }
        _ => return None,
    };
    Some(decode_charset(&bytes, charset))
}

#[test]
fn mime_helpers_read_lettre_shaped_messages() {
    // 7bit single part, LF line ends, header name case and folding.
    let raw = "subject: a\n\tb\nContent-Type: text/plain; charset=\"UTF-8\"\n\nhi =41\n";
    assert_eq!(header(raw, "Subject").as_deref(), Some("a\tb"));
    assert_eq!(body_text(raw), "hi =41\n");
    // No Content-Type: text/plain; an attachment in a multipart/mixed is skipped.
    assert_eq!(body_text("Subject: x\r\n\r\nplain"), "plain");
    let mixed = "Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n\
                 Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
                 a=3Db=\r\nc\r\n--XX\r\nContent-Type: text/csv\r\n\
                 Content-Disposition: attachment; filename=\"x.csv\"\r\n\r\n1,2\r\n--XX--\r\n";
    assert_eq!(body_text(mixed), "a=bc");
    // Encoded words next to plain words keep their spacing.
    assert_eq!(
        decode_encoded_words("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= from =?utf-8?B?w6k=?= x"),
        "Grüße from é x"
    );
}
