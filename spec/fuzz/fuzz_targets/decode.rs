//! Every decoder of cerebro-spec on arbitrary bytes: no panic, and whatever decodes
//! re-encodes to the same bytes.
#![no_main]

use cerebro_spec::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((id, job)) = Job::decode(data) {
        let mut out = vec![0u8; job.encoded_len().expect("length")];
        let n = job.encode(id, &mut out).expect("re-encode");
        assert_eq!(&out[..n], &data[..n]);
    }
    if let Ok((id, r)) = JobResult::decode(data) {
        let mut out = vec![0u8; r.encoded_len().expect("length")];
        let n = r.encode(id, &mut out).expect("re-encode");
        assert_eq!(&out[..n], &data[..n]);
    }
    if let Ok(req) = ChunkRequest::decode(data) {
        let mut out = [0u8; CHUNK_REQUEST_LEN];
        req.encode(&mut out).expect("re-encode");
        assert_eq!(&out[..], data);
    }
    if let Ok((resp, payload)) = ChunkResponse::decode(data) {
        assert_eq!(payload.len(), resp.length as usize);
        let mut out = [0u8; CHUNK_RESPONSE_HEADER_LEN];
        resp.encode_header(&mut out).expect("re-encode");
        assert_eq!(&out[..], &data[..CHUNK_RESPONSE_HEADER_LEN]);
    }
    if let Ok(list) = TensorList::decode(data) {
        let views: Vec<_> = list.iter().collect();
        assert_eq!(views.len(), list.len());
        let mut out = vec![0u8; TensorList::encoded_len(&views).expect("length")];
        TensorList::encode(&views, &mut Writer::new(&mut out)).expect("re-encode");
        assert_eq!(&out[..], data);
    }
    if let Ok(c) = DeviceConfig::from_bytes(data) {
        assert_eq!(&c.to_bytes()[..28], &data[..28]);
    }
    let _ = MessageHeader::decode(data);
});
