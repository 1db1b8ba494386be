//! G.711 (ITU-T G.711) µ-law and A-law: encode, decode and direct µ↔A transcoding.
//!
//! Owns only sample conversion. Decoding and transcoding are 256-entry tables built at compile
//! time, so the bridge hot path is one indexed load per byte; encoding is the segment arithmetic
//! of G.711 itself (a handful of integer operations per sample).
//! Must not know anything about RTP, payload types or SDP (see `sdp` for the mapping).

/// The audio law a leg negotiated; RTP/AVP static payload types 0 and 8 (RFC 3551 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, payload type 0.
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551 §6, table 4).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec for a static payload type, if it is one of ours.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The encoding name used in `a=rtpmap` (RFC 3551 §4.5.14).
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The encoded byte of digital silence (linear 0) in this law.
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => ULAW_SILENCE,
            Codec::Pcma => ALAW_SILENCE,
        }
    }

    /// Encodes linear samples into `out` (one byte per sample); `out` must be at least as long.
    pub fn encode(self, pcm: &[i16], out: &mut [u8]) {
        let enc = match self {
            Codec::Pcmu => linear_to_ulaw,
            Codec::Pcma => linear_to_alaw,
        };
        for (o, &s) in out.iter_mut().zip(pcm) {
            *o = enc(s);
        }
    }

    /// Decodes bytes into `out` (one sample per byte); `out` must be at least as long.
    pub fn decode(self, bytes: &[u8], out: &mut [i16]) {
        let table = match self {
            Codec::Pcmu => &ULAW_TO_LINEAR,
            Codec::Pcma => &ALAW_TO_LINEAR,
        };
        for (o, &b) in out.iter_mut().zip(bytes) {
            *o = table[usize::from(b)];
        }
    }

    /// Converts an encoded payload of this law into `to`'s law, byte by byte, into `out`.
    /// Same law is a plain copy, so the bridge can always call this.
    pub fn transcode(self, to: Codec, bytes: &[u8], out: &mut [u8]) {
        let table = match (self, to) {
            (Codec::Pcmu, Codec::Pcma) => &ULAW_TO_ALAW,
            (Codec::Pcma, Codec::Pcmu) => &ALAW_TO_ULAW,
            _ => {
                let n = bytes.len().min(out.len());
                out[..n].copy_from_slice(&bytes[..n]);
                return;
            }
        };
        for (o, &b) in out.iter_mut().zip(bytes) {
            *o = table[usize::from(b)];
        }
    }
}

/// µ-law code of linear 0 (all bits inverted on the wire, G.711 table 2a).
pub(crate) const ULAW_SILENCE: u8 = 0xFF;
/// A-law code of linear 0 (even bits inverted on the wire, G.711 table 1a).
pub(crate) const ALAW_SILENCE: u8 = 0xD5;

/// µ-law bias: G.711 µ-law works on |x| + 33 in 14-bit units, i.e. +132 in 16-bit units.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude that still fits the top µ-law segment after the bias is added.
const ULAW_CLIP: i32 = 32635;

/// Encodes one 16-bit linear sample to µ-law (G.711 §3.2, 8 segments of 16 steps).
pub(crate) const fn linear_to_ulaw(sample: i16) -> u8 {
    let mut x = sample as i32;
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    if x > ULAW_CLIP {
        x = ULAW_CLIP;
    }
    x += ULAW_BIAS;
    // The segment is the position of the highest set bit above bit 7 (x >= 0x84 here).
    let exponent = (31 - (x as u32).leading_zeros() as i32) - 7;
    let mantissa = (x >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

/// Decodes one µ-law byte to the midpoint of its quantisation interval.
pub(crate) const fn ulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Upper bound of each A-law segment in 13-bit magnitude units (G.711 table 1a).
const ALAW_SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Encodes one 16-bit linear sample to A-law (G.711 §3.1, 13-bit magnitude, 8 segments).
pub(crate) const fn linear_to_alaw(sample: i16) -> u8 {
    let mut x = (sample as i32) >> 3;
    // Positive values carry the sign bit set; 0x55 is the even-bit inversion of the wire format.
    let mask: i32 = if x >= 0 {
        0xD5
    } else {
        x = -x - 1;
        0x55
    };
    let mut segment = 0;
    while segment < 8 && x > ALAW_SEGMENT_END[segment] {
        segment += 1;
    }
    if segment >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let shift = if segment < 2 { 1 } else { segment as i32 };
    let code = ((segment as i32) << 4) | ((x >> shift) & 0x0F);
    (code ^ mask) as u8
}

/// Decodes one A-law byte to the midpoint of its quantisation interval.
pub(crate) const fn alaw_to_linear(code: u8) -> i16 {
    let a = (code ^ 0x55) as i32;
    let mut magnitude = (a & 0x0F) << 4;
    let segment = (a & 0x70) >> 4;
    magnitude += match segment {
        0 => 8,
        _ => 0x108,
    };
    if segment > 1 {
        magnitude <<= segment - 1;
    }
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn build_decode_table(law: Codec) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match law {
            Codec::Pcmu => ulaw_to_linear(i as u8),
            Codec::Pcma => alaw_to_linear(i as u8),
        };
        i += 1;
    }
    t
}

const fn build_transcode_table(from: Codec) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match from {
            Codec::Pcmu => linear_to_alaw(ulaw_to_linear(i as u8)),
            Codec::Pcma => linear_to_ulaw(alaw_to_linear(i as u8)),
        };
        i += 1;
    }
    t
}

static ULAW_TO_LINEAR: [i16; 256] = build_decode_table(Codec::Pcmu);
static ALAW_TO_LINEAR: [i16; 256] = build_decode_table(Codec::Pcma);
static ULAW_TO_ALAW: [u8; 256] = build_transcode_table(Codec::Pcmu);
static ALAW_TO_ULAW: [u8; 256] = build_transcode_table(Codec::Pcma);

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    /// Known code points from the G.711 tables (sign, segment ends, full scale).
    #[test]
    fn known_values() {
        let ulaw: &[(i16, u8)] = &[
            (0, 0xFF),
            (-1, 0x7F),
            (32767, 0x80),
            (-32768, 0x00),
            (8, 0xFE),
            (-8, 0x7E),
        ];
        for &(pcm, code) in ulaw {
            assert_eq!(linear_to_ulaw(pcm), code, "µ-law encode {pcm}");
        }
        let ulaw_dec: &[(u8, i16)] = &[
            (0xFF, 0),
            (0x7F, 0),
            (0x80, 32124),
            (0x00, -32124),
            (0xEF, 132),
        ];
        for &(code, pcm) in ulaw_dec {
            assert_eq!(ulaw_to_linear(code), pcm, "µ-law decode {code:#x}");
        }
        let alaw: &[(i16, u8)] = &[
            (0, 0xD5),
            (-1, 0x55),
            (32767, 0xAA),
            (-32768, 0x2A),
            (-8, 0x55),
        ];
        for &(pcm, code) in alaw {
            assert_eq!(linear_to_alaw(pcm), code, "A-law encode {pcm}");
        }
        let alaw_dec: &[(u8, i16)] = &[(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256)];
        for &(code, pcm) in alaw_dec {
            assert_eq!(alaw_to_linear(code), pcm, "A-law decode {code:#x}");
        }
        assert_eq!(Codec::Pcmu.silence_byte(), linear_to_ulaw(0));
        assert_eq!(Codec::Pcma.silence_byte(), linear_to_alaw(0));
    }

    /// Every code decodes to a value that encodes back to the same code (except µ-law's
    /// negative zero 0x7F, which G.711 folds onto 0xFF).
    #[test]
    fn code_round_trip() {
        for code in 0..=255u8 {
            let u = linear_to_ulaw(ulaw_to_linear(code));
            if code == 0x7F {
                assert_eq!(u, 0xFF);
            } else {
                assert_eq!(u, code, "µ-law {code:#x}");
            }
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#x}"
            );
        }
    }

    /// Quantisation error stays within half a step of the segment the sample falls in:
    /// about 1/32 of the magnitude (plus the small first segment) for both laws.
    #[test]
    fn linear_round_trip_error_is_bounded() {
        for x in i16::MIN..=i16::MAX {
            let m = i32::from(x).abs();
            if m > 32000 {
                continue; // clipped region, checked in known_values
            }
            let eu = (i32::from(ulaw_to_linear(linear_to_ulaw(x))) - i32::from(x)).abs();
            assert!(eu <= (m + 132) / 32 + 1, "µ-law {x}: error {eu}");
            let ea = (i32::from(alaw_to_linear(linear_to_alaw(x))) - i32::from(x)).abs();
            assert!(ea <= (m / 32).max(16), "A-law {x}: error {ea}");
        }
    }

    /// Encoding is monotonic in the magnitude, so louder never decodes quieter.
    #[test]
    fn decode_is_monotonic_in_encode() {
        let mut prev_u = i16::MIN;
        let mut prev_a = i16::MIN;
        for x in (i16::MIN..=i16::MAX).step_by(7) {
            let u = ulaw_to_linear(linear_to_ulaw(x));
            let a = alaw_to_linear(linear_to_alaw(x));
            assert!(u >= prev_u && a >= prev_a, "at {x}");
            prev_u = u;
            prev_a = a;
        }
    }

    #[test]
    fn transcode_matches_decode_then_encode_and_keeps_level() {
        let mut out = [0u8; 256];
        let codes: Vec<u8> = (0..=255).collect();
        Codec::Pcmu.transcode(Codec::Pcma, &codes, &mut out);
        for (i, &a) in out.iter().enumerate() {
            let lin = ulaw_to_linear(i as u8);
            let back = alaw_to_linear(a);
            assert_eq!(a, linear_to_alaw(lin));
            assert!(
                (i32::from(back) - i32::from(lin)).abs() <= (i32::from(lin).abs() / 16).max(16)
            );
        }
        Codec::Pcma.transcode(Codec::Pcma, &codes, &mut out);
        assert_eq!(&out[..], &codes[..]);
        Codec::Pcma.transcode(Codec::Pcmu, &[0xD5], &mut out);
        assert!(
            ulaw_to_linear(out[0]).abs() <= 8,
            "A-law silence stays (near) silence in µ-law"
        );
    }

    #[test]
    fn slice_encode_decode() {
        let pcm: Vec<i16> = (0..160)
            .map(|i| ((i as f32 * 0.3).sin() * 10000.0) as i16)
            .collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut enc = [0u8; 160];
            let mut dec = [0i16; 160];
            codec.encode(&pcm, &mut enc);
            codec.decode(&enc, &mut dec);
            for (a, b) in pcm.iter().zip(dec.iter()) {
                assert!((i32::from(*a) - i32::from(*b)).abs() <= 400, "{codec:?}");
            }
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
        }
        assert_eq!(Codec::from_payload_type(101), None);
    }
}
