//! Server-sent event frames (the WHATWG `text/event-stream` format), built
//! once and shared: a live event reaches every subscriber as the same
//! bytes, so 2,000 subscribers cost one frame, not 2,000.

use bytes::{BufMut, Bytes, BytesMut};

/// The frame of one event named `event`, with `id:` when given; `data` is
/// split at its line breaks (CR LF, CR or LF), one `data:` line each, as the
/// format requires of multi-line data.
pub fn frame(event: &str, id: Option<u64>, data: &str) -> Bytes {
    let mut frame = BytesMut::with_capacity(data.len() + event.len() + 32);
    frame.put_slice(b"event: ");
    frame.put_slice(event.as_bytes());
    frame.put_u8(b'\n');
    if let Some(id) = id {
        frame.put_slice(b"id: ");
        frame.put_slice(id.to_string().as_bytes());
        frame.put_u8(b'\n');
    }
    for line in data.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        frame.put_slice(b"data: ");
        frame.put_slice(line.as_bytes());
        frame.put_u8(b'\n');
    }
    frame.put_u8(b'\n');
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::frame;

    #[test]
    fn one_line_of_data_is_one_data_field() {
        assert_eq!(
            &frame("canonical_event", Some(7), r#"{"seq":7}"#)[..],
            b"event: canonical_event\nid: 7\ndata: {\"seq\":7}\n\n"
        );
    }

    #[test]
    fn every_kind_of_line_break_starts_a_data_field() {
        assert_eq!(
            &frame("snapshot", None, "a\nb\r\nc\rd")[..],
            b"event: snapshot\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }
}
