//! A serde deserializer wrapper under which a struct is read only from a JSON object.
//!
//! serde's derived `Deserialize` for a struct also accepts a sequence, taking its elements as
//! the fields in declaration order. Through an API that means `{"events": [3]}` sets
//! `events.max_retries` to 3, and `[null, null]` passes as an empty deploy. Every request
//! document and every object in it is an object, so under [`Strict`] a sequence where a struct
//! is expected is an error ("invalid type: sequence, expected struct EventsBody").
//!
//! The wrapper passes itself down through every nested value (options, sequences, maps, enum
//! variants), so the rule holds at any depth. What serde buffers first (`flatten`, untagged
//! enums) is read from its buffer, outside the wrapper.

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use std::fmt;

/// Deserializes `T` from `D`, refusing a sequence wherever a struct is expected.
pub(crate) struct Strict<D>(pub(crate) D);

/// A visitor of any value, handing the wrapper on to what it visits.
struct Nested<V>(V);

/// A visitor of a struct: as [`Nested`], but a sequence is refused.
struct StructOnly<V>(V);

/// A seed, deserializing its value under the wrapper.
struct Seed<S>(S);

macro_rules! forward {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Nested(visitor))
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Nested(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Nested(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Nested(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, name: &'static str, len: usize, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Nested(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(self, name: &'static str, fields: &'static [&'static str], visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, StructOnly(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(self, name: &'static str, variants: &'static [&'static str], visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Nested(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! pass_scalars {
    ($($method:ident: $ty:ty)*) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.0.$method(v)
        })*
    };
}

macro_rules! visitor {
    ($wrapper:ident, $seq:item) => {
        impl<'de, V: Visitor<'de>> Visitor<'de> for $wrapper<V> {
            type Value = V::Value;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                self.0.expecting(f)
            }

            pass_scalars! {
                visit_bool: bool visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64 visit_i128: i128
                visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64 visit_u128: u128 visit_f32: f32
                visit_f64: f64 visit_char: char visit_str: &str visit_borrowed_str: &'de str
                visit_string: String visit_bytes: &[u8] visit_borrowed_bytes: &'de [u8] visit_byte_buf: Vec<u8>
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                self.0.visit_none()
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                self.0.visit_unit()
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                self.0.visit_some(Strict(d))
            }

            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                self.0.visit_newtype_struct(Strict(d))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                self.0.visit_map(Strict(map))
            }

            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
                self.0.visit_enum(Strict(data))
            }

            $seq
        }
    };
}

visitor!(
    Nested,
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(Strict(seq))
    }
);

visitor!(
    StructOnly,
    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
    }
);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Strict<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Strict<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Seed(seed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(Seed(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Strict<A> {
    type Error = A::Error;
    type Variant = Strict<A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.0.variant_seed(Seed(seed))?;
        Ok((value, Strict(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Strict<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        self.0.newtype_variant_seed(Seed(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Nested(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, StructOnly(visitor))
    }
}

/// Parses JSON `text` as `T` under [`Strict`].
pub(crate) fn from_slice<T: serde::de::DeserializeOwned>(text: &[u8]) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = T::deserialize(Strict(&mut de))?;
    de.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        a: u32,
        #[serde(default)]
        b: Option<u32>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        Shaped { x: u32 },
        Wrapped(Inner),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        maybe: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        by_name: BTreeMap<String, Inner>,
        #[serde(default)]
        kinds: Vec<Kind>,
        #[serde(default)]
        numbers: Vec<u32>,
    }

    #[test]
    fn objects_read_as_before_at_every_depth() {
        let text = br#"{"inner": {"a": 1}, "maybe": {"a": 2, "b": 3}, "list": [{"a": 4}], "by_name": {"k": {"a": 5}},
            "kinds": ["plain", {"shaped": {"x": 6}}, {"wrapped": {"a": 7}}], "numbers": [8, 9]}"#;
        let outer: Outer = from_slice(text).unwrap();
        assert_eq!(outer, serde_json::from_slice::<Outer>(text).unwrap());
        assert_eq!(outer.kinds[1], Kind::Shaped { x: 6 });
        assert_eq!(outer.numbers, vec![8, 9]);
    }

    #[test]
    fn a_sequence_where_a_struct_belongs_is_refused_at_every_depth() {
        let refused: [&[u8]; 6] = [
            br#"[{"a": 1}]"#,
            br#"{"inner": [1]}"#,
            br#"{"inner": {"a": 1}, "maybe": [2, 3]}"#,
            br#"{"inner": {"a": 1}, "list": [[4]]}"#,
            br#"{"inner": {"a": 1}, "by_name": {"k": [5]}}"#,
            br#"{"inner": {"a": 1}, "kinds": [{"shaped": [6]}]}"#,
        ];
        for text in refused {
            // serde alone takes each of these, field by field.
            assert!(serde_json::from_slice::<Outer>(text).is_ok() || text.starts_with(b"["), "{}", String::from_utf8_lossy(text));
            let err = from_slice::<Outer>(text).unwrap_err().to_string();
            assert!(err.contains("invalid type: sequence"), "{}: {err}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn trailing_text_is_refused() {
        assert!(from_slice::<Inner>(br#"{"a": 1} x"#).is_err());
    }
}
