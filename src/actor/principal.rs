//! Who sends a request: the model's principal, with the JWT claims the request carries
//! and the name reports give it. The principal decides the database role; the claims
//! are what `auth.uid()` and the policies read.

use std::fmt;

use serde_json::{json, Map, Value};

use crate::model::{Id, Principal};

/// The JWT claims of an authenticated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// The claims Supabase Studio uses to impersonate a user. Times are fixed, not read
    /// from the clock, so that runs (and snapshots) are reproducible.
    pub fn for_user(id: Id, email: &str) -> Claims {
        let claims = json!({
            "aud": "authenticated",
            "iss": "rls-harness",
            "iat": 1_761_436_800u64,
            "exp": 4_102_444_800u64,
            "sub": id.to_string(),
            "email": email,
            "phone": "",
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": 1_761_436_800u64}],
            "session_id": Id::new_v5(&id, b"session").to_string(),
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {"email": email, "email_verified": true},
            "is_anonymous": false,
        });
        match claims {
            Value::Object(map) => Claims(map),
            _ => unreachable!("a json! object literal is an object"),
        }
    }

    /// Replaces top-level claims; a `null` value removes the claim.
    pub fn with_overrides(mut self, overrides: &Map<String, Value>) -> Claims {
        for (key, value) in overrides {
            if value.is_null() {
                self.0.remove(key);
            } else {
                self.0.insert(key.clone(), value.clone());
            }
        }
        self
    }

    /// The principal these claims make of an `authenticated` request: the user their
    /// `sub` names, or a session without one (a missing, empty or malformed `sub`).
    pub fn principal(&self) -> Principal {
        match self.0.get("sub").and_then(Value::as_str).map(str::parse) {
            Some(Ok(id)) => Principal::User(id),
            _ => Principal::NoSub,
        }
    }
}

/// A principal as a request presents it.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub principal: Principal,
    /// The claims of an authenticated session; the other principals' are fixed.
    pub claims: Option<Claims>,
    /// How reports name it: `anon`, `user mo`.
    pub name: String,
}

impl Identity {
    /// A principal with the claims it gets by default: Studio's impersonation claims
    /// for a user (`name` and `email` are the user's), none without a `sub`.
    pub fn of(principal: Principal, name: &str, email: &str) -> Identity {
        let claims = match principal {
            Principal::User(id) => Some(Claims::for_user(id, email)),
            Principal::NoSub => {
                let mut claims = Claims::for_user(Id::nil(), email);
                claims.0.remove("sub");
                Some(claims)
            }
            Principal::Anon | Principal::ServiceRole | Principal::Owner => None,
        };
        Identity {
            principal,
            claims,
            name: match principal {
                Principal::User(_) => format!("user {name}"),
                other => other.to_string(),
            },
        }
    }

    /// An authenticated user with the claims a scenario file gives it; what the claims
    /// say decides whether it is that user or a session without `sub`.
    pub fn with_claims(name: &str, claims: Claims) -> Identity {
        Identity {
            principal: claims.principal(),
            claims: Some(claims),
            name: format!("user {name}"),
        }
    }

    /// The database role the request runs as, `None` for the owner.
    pub fn role(&self) -> Option<&'static str> {
        match self.principal {
            Principal::Anon => Some("anon"),
            Principal::NoSub | Principal::User(_) => Some("authenticated"),
            Principal::ServiceRole => Some("service_role"),
            Principal::Owner => None,
        }
    }

    /// The claims as JSON, `None` for the owner.
    pub(crate) fn claims_json(&self) -> Option<String> {
        match (&self.claims, self.principal) {
            (_, Principal::Owner) => None,
            (Some(claims), _) => Some(Value::Object(claims.0.clone()).to_string()),
            (None, Principal::Anon) => Some(json!({"role": "anon"}).to_string()),
            (None, _) => Some(json!({"role": "service_role"}).to_string()),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_claims_look_like_studio_impersonation() {
        let id = Id::new_v5(&Id::NAMESPACE_OID, b"dana");
        let claims = Claims::for_user(id, "dana@example.test");
        assert_eq!(claims.0["sub"], id.to_string());
        assert_eq!(claims.0["role"], "authenticated");
        assert_eq!(claims.0["aud"], "authenticated");
        assert_eq!(claims.0["is_anonymous"], false);
        assert!(claims.0["app_metadata"].is_object());
        assert!(claims.0["user_metadata"].is_object());
    }

    #[test]
    fn overrides_replace_and_null_removes() {
        let id = Id::nil();
        let overrides = json!({"sub": null, "user_metadata": {"tenant_id": "x"}});
        let claims = Claims::for_user(id, "a@b").with_overrides(overrides.as_object().unwrap());
        assert!(!claims.0.contains_key("sub"));
        assert_eq!(claims.0["user_metadata"], json!({"tenant_id": "x"}));
    }

    #[test]
    fn the_claims_decide_who_a_user_is() {
        let id = Id::from_u128(7);
        let user = Identity::with_claims("mo", Claims::for_user(id, "mo@x"));
        assert_eq!(user.principal, Principal::User(id));
        let blank = json!({"sub": ""});
        let without = Claims::for_user(id, "mo@x").with_overrides(blank.as_object().unwrap());
        assert_eq!(
            Identity::with_claims("mo", without).principal,
            Principal::NoSub
        );
        let nosub = Identity::of(Principal::NoSub, "nosub", "n@x");
        assert_eq!(nosub.role(), Some("authenticated"));
        assert!(!nosub.claims.unwrap().0.contains_key("sub"));
        assert_eq!(Identity::of(Principal::Owner, "", "").claims_json(), None);
    }
}
