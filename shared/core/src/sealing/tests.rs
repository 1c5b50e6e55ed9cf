//! Unit and property tests of the sealed-value format: round trips, what a wrong key, a
//! moved or altered value gives, and that no stored text makes opening panic.

use proptest::prelude::*;

use super::*;

const HEX_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn ring() -> Keyring {
    Keyring::new(MasterKey::parse(HEX_KEY).unwrap(), None)
}

fn open_text(ring: &Keyring, binding: Binding<'_>, stored: &str) -> Result<String, OpenError> {
    ring.open(binding, stored)
        .map(|s| s.expose_secret().to_owned())
}

#[test]
fn keys_parse_from_hex_and_every_base64_and_nothing_else() {
    let key = MasterKey::parse(HEX_KEY).unwrap();
    let bytes = hex::decode(HEX_KEY).unwrap();
    for text in [
        STANDARD.encode(&bytes),
        STANDARD_NO_PAD.encode(&bytes),
        URL_SAFE.encode(&bytes),
        URL_SAFE_NO_PAD.encode(&bytes),
        format!("{}\n", HEX_KEY.to_ascii_uppercase()),
    ] {
        assert_eq!(MasterKey::parse(&text).unwrap().id(), key.id(), "{text}");
    }
    assert_eq!(
        MasterKey::parse(&HEX_KEY[..62]).unwrap_err(),
        KeyError::Encoding
    );
    assert_eq!(
        MasterKey::parse(&STANDARD.encode([7u8; 16])).unwrap_err(),
        KeyError::Length(16)
    );
    assert_eq!(MasterKey::parse("").unwrap_err(), KeyError::Length(0));
    assert_eq!(
        MasterKey::parse("not a key!").unwrap_err(),
        KeyError::Encoding
    );
}

#[test]
fn the_key_id_is_the_first_8_bytes_of_its_sha256_and_debug_shows_only_it() {
    let key = MasterKey::parse(HEX_KEY).unwrap();
    let digest = Sha256::digest(hex::decode(HEX_KEY).unwrap());
    assert_eq!(key.id().as_str(), hex::encode(&digest[..8]));
    assert_eq!(format!("{key:?}"), format!("MasterKey({})", key.id()));
    assert_eq!(key.to_hex().expose_secret(), HEX_KEY);
    assert_ne!(MasterKey::generate().id(), MasterKey::generate().id());
}

#[test]
fn a_sealed_value_opens_for_its_row_only() {
    let ring = ring();
    let sealed = ring.seal(Binding::signing("int_a"), "whsec_abc").unwrap();
    assert!(
        sealed
            .text
            .starts_with(&format!("v1:{}:", ring.current_id()))
    );
    assert!(!sealed.text.contains("whsec"));
    assert_eq!(&sealed.key_id, ring.current_id());
    assert_eq!(
        open_text(&ring, Binding::signing("int_a"), &sealed.text).unwrap(),
        "whsec_abc"
    );
    // Another integration, or an installation secret of the same name.
    for other in [Binding::signing("int_b"), Binding::app("int_a")] {
        assert_eq!(
            open_text(&ring, other, &sealed.text).unwrap_err(),
            OpenError::Tampered
        );
    }
    // A fresh nonce each time.
    let again = ring.seal(Binding::signing("int_a"), "whsec_abc").unwrap();
    assert_ne!(again.text, sealed.text);
}

#[test]
fn another_key_is_named_not_guessed_at() {
    let sealed = ring().seal(Binding::app("unsubscribe_key"), "k").unwrap();
    let other = Keyring::new(MasterKey::generate(), None);
    assert_eq!(
        open_text(&other, Binding::app("unsubscribe_key"), &sealed.text).unwrap_err(),
        OpenError::UnknownKey(ring().current_id().clone())
    );
    assert_eq!(&sealed_key_id(&sealed.text).unwrap(), ring().current_id());
    // With the sealing key as the previous one, it opens; new values use the current key.
    let rotating = Keyring::new(
        MasterKey::generate(),
        Some(MasterKey::parse(HEX_KEY).unwrap()),
    );
    assert_eq!(rotating.previous_id(), Some(ring().current_id()));
    assert_eq!(
        open_text(&rotating, Binding::app("unsubscribe_key"), &sealed.text).unwrap(),
        "k"
    );
    let resealed = rotating.seal(Binding::app("unsubscribe_key"), "k").unwrap();
    assert_eq!(&resealed.key_id, rotating.current_id());
    // The same key given twice is one key.
    let same = Keyring::new(
        MasterKey::parse(HEX_KEY).unwrap(),
        Some(MasterKey::parse(HEX_KEY).unwrap()),
    );
    assert_eq!(same.previous_id(), None);
}

#[test]
fn a_value_relabelled_with_another_held_key_is_tampering() {
    let old = MasterKey::parse(HEX_KEY).unwrap();
    let new = MasterKey::generate();
    let both = Keyring::new(new.clone(), Some(old.clone()));
    let sealed = ring().seal(Binding::signing("int_a"), "s").unwrap();
    let relabelled = sealed
        .text
        .replacen(old.id().as_str(), new.id().as_str(), 1);
    assert_eq!(
        open_text(&both, Binding::signing("int_a"), &relabelled).unwrap_err(),
        OpenError::Tampered
    );
}

#[test]
fn hostile_texts_are_named() {
    let ring = ring();
    let id = ring.current_id().clone();
    let b = Binding::signing("int_a");
    for (text, expected) in [
        ("whsec_plain", OpenError::Malformed),
        ("", OpenError::Malformed),
        ("v1:", OpenError::Malformed),
        ("v1::", OpenError::Malformed),
        ("v2:0011223344556677:AAAA", OpenError::UnknownVersion),
        ("V1:0011223344556677:AAAA", OpenError::Malformed),
        ("v1:0011223344556677", OpenError::Malformed),
        ("v1:00112233445566:AAAA", OpenError::Malformed),
        (
            "v1:0011223344556677:AAAA",
            OpenError::UnknownKey(KeyId::parse("0011223344556677").unwrap()),
        ),
        (&format!("v1:{id}:"), OpenError::Malformed),
        (&format!("v1:{id}:!!!"), OpenError::Malformed),
        // A nonce and less than a tag.
        (
            &format!("v1:{id}:{}", URL_SAFE_NO_PAD.encode([0u8; 27])),
            OpenError::Malformed,
        ),
        (
            &format!("v1:{id}:{}", URL_SAFE_NO_PAD.encode([0u8; 28])),
            OpenError::Tampered,
        ),
        (
            &format!("v1:{}:AAAA", id.as_str().to_ascii_uppercase()),
            OpenError::Malformed,
        ),
    ] {
        assert_eq!(open_text(&ring, b, text).unwrap_err(), expected, "{text:?}");
    }
}

#[test]
fn non_text_plaintext_is_refused() {
    // Sealed by hand: bytes that are not UTF-8, under the right key and binding.
    let ring = ring();
    let key = MasterKey::parse(HEX_KEY).unwrap();
    let nonce = [1u8; NONCE_BYTES];
    let aad = Binding::app("x").aad();
    let ct = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &[0xff, 0xfe],
                aad: &aad,
            },
        )
        .unwrap();
    let stored = format!(
        "v1:{}:{}",
        key.id(),
        URL_SAFE_NO_PAD.encode([nonce.as_slice(), &ct].concat())
    );
    assert_eq!(
        open_text(&ring, Binding::app("x"), &stored).unwrap_err(),
        OpenError::NotText
    );
}

proptest! {
    #[test]
    fn round_trip(plaintext in ".{0,200}", owner in "[a-z_0-9]{0,40}") {
        let ring = ring();
        let sealed = ring.seal(Binding::signing(&owner), &plaintext).unwrap();
        prop_assert_eq!(open_text(&ring, Binding::signing(&owner), &sealed.text).unwrap(), plaintext);
    }

    #[test]
    fn any_flipped_bit_of_the_data_is_refused(
        plaintext in ".{1,80}",
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let ring = ring();
        let sealed = ring.seal(Binding::app("k"), &plaintext).unwrap();
        let (head, data) = sealed.text.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(data).unwrap();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let altered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&bytes));
        prop_assert_eq!(open_text(&ring, Binding::app("k"), &altered).unwrap_err(), OpenError::Tampered);
    }

    #[test]
    fn any_other_owner_is_refused(owner in "[a-z_0-9]{0,20}", other in "[a-z_0-9]{0,20}") {
        prop_assume!(owner != other);
        let ring = ring();
        let sealed = ring.seal(Binding::signing(&owner), "s").unwrap();
        prop_assert_eq!(open_text(&ring, Binding::signing(&other), &sealed.text).unwrap_err(), OpenError::Tampered);
    }

    #[test]
    fn any_stored_text_gives_a_value_or_an_error_never_a_panic(text in any::<String>()) {
        let ring = ring();
        let _ = ring.open(Binding::signing("int_a"), &text);
        let _ = sealed_key_id(&text);
    }

    #[test]
    fn texts_shaped_like_sealed_values_give_errors(data in "[A-Za-z0-9_-]{0,120}") {
        let ring = ring();
        let text = format!("v1:{}:{data}", ring.current_id());
        prop_assert!(ring.open(Binding::signing("int_a"), &text).is_err());
    }

    #[test]
    fn any_key_text_parses_or_errs(text in any::<String>()) {
        let _ = MasterKey::parse(&text);
    }
}
