//! Enums written as a stable text (`'pending'`, `'needs_attention'`, `list.create`): store
//! columns, audit actions, API values. Each needs the same four things: its text (`as_str`),
//! parsing back with an [`UnknownText`] naming what was unknown (`FromStr`; the store turns it
//! into its own `Invalid` error), every variant (`ALL`, for metrics and checks), and for some a
//! `Display` that prints the text. [`text_enum!`] writes them from one table of variants and
//! texts, so a new variant cannot be forgotten in one of the four, and every such enum of the
//! daemon is written by this one macro.

use std::fmt;

/// A text that no variant of a [`text_enum!`] enum has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownText {
    /// What was being read ("role", "mailbox status").
    pub what: &'static str,
    /// Why it was refused (`unknown "x"` unless the enum says more).
    pub reason: String,
}

impl fmt::Display for UnknownText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.what, self.reason)
    }
}

impl std::error::Error for UnknownText {}

/// Declares a `Copy` enum stored as text, with `as_str`, `FromStr`, `ALL` and (with `impl
/// Display;`) `Display`:
///
/// ```text
/// text_enum! {
///     /// What a member may do with a list.
///     #[derive(Clone, Copy, Debug, PartialEq, Eq)]
///     pub enum Role("role") {
///         Viewer => "viewer",
///         Owner => "owner",
///     }
///     unknown(s) => format!("{s:?} is not owner or viewer");
///     impl Display;
/// }
/// ```
///
/// The string in parentheses is the `what` of the parse error; its `reason` is
/// `unknown "<text>"` unless an `unknown(s) => …;` line says otherwise.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident($what:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal, )+
        }
        $( unknown($s:ident) => $reason:expr; )?
        $( impl $display:ident; )?
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The stable text.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::UnknownText;
            fn from_str(input: &str) -> std::result::Result<Self, Self::Err> {
                match input {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::domain::UnknownText {
                        what: $what,
                        reason: text_enum!(@reason input $(, $s => $reason)?),
                    }),
                }
            }
        }

        $(
            impl std::fmt::$display for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        )?
    };
    (@reason $input:ident) => {
        format!("unknown {:?}", $input)
    };
    (@reason $input:ident, $s:ident => $reason:expr) => {{
        let $s = $input;
        $reason
    }};
}

pub(crate) use text_enum;
