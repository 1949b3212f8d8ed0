//! What a schema's tenancy consists of, without a single name: how many resource
//! tables share rows by tenant and mode, the roles a membership may hold in order of
//! rights and what each may do, and which of the access model's optional parts exist
//! (platform admins, a tenant context, an audit trail, a view of global rows, the
//! functions of its table). The profile builds a [`Shape`] from `rls-harness.toml` and
//! is the only place that knows what each position and flag is called.

use std::fmt;

use super::Id;

/// A resource table, by its position in the profile's list of shared tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Table(pub u8);

/// A role a membership may hold, by rank: `Role(0)` has the most rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Role(pub u8);

impl Role {
    /// The next role up in rights (an owner stays an owner).
    pub fn promoted(self) -> Role {
        Role(self.0.saturating_sub(1))
    }
}

/// What holders of a role may do in their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoleRights {
    /// Writes the tenant's rows: the role is in `W(u)`.
    pub writes: bool,
    /// Adds, changes and removes the memberships of others in the tenant.
    pub manages: bool,
    /// Only platform admins give this role out or touch a membership that holds it.
    pub protected: bool,
}

/// A function that adds or changes a membership of one fixed tenant, limited to some
/// roles (VITAL's `assign_user_to_dh_startup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assign {
    pub tenant: Id,
    pub roles: Vec<Role>,
}

/// Who creates tenants through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Creators {
    /// Platform admins only (nobody, without platform admins).
    #[default]
    PlatformAdmins,
    /// Any signed-in user, who becomes the new tenant's primary owner (where tenants
    /// have one) and a member with the highest role.
    SignedIn,
}

/// Who updates a tenant's own row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Editors {
    /// Platform admins only (nobody, without platform admins).
    #[default]
    PlatformAdmins,
    /// The tenant's writers (`W(u)`) too.
    Writers,
}

/// What members may do with the memberships table itself, beyond their roles' rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipRules {
    /// Members read every membership of their tenants (else their own, and those of
    /// the tenants they manage).
    pub teammates_read: bool,
    /// Which writes managers make directly on the table: add a member, change a role,
    /// remove a member. A schema that does the others through functions leaves them out.
    pub add: bool,
    pub change: bool,
    pub remove: bool,
    /// Managers write their own membership too (else never).
    pub own: bool,
}

impl Default for MembershipRules {
    fn default() -> MembershipRules {
        MembershipRules {
            teammates_read: false,
            add: true,
            change: true,
            remove: true,
            own: false,
        }
    }
}

/// The tenancy the model predicts, as positions and flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// How many resource tables there are (none without sharing).
    pub tables: u8,
    /// The roles by rank, highest first. Empty when memberships carry no role: every
    /// member is then equal, and writes.
    pub roles: Vec<RoleRights>,
    pub admins: bool,
    /// A tenant context narrows `E(u)`; without one `E(u) = M(u)`.
    pub context: bool,
    /// An audit trail of sharing changes, written by a trigger.
    pub audit: bool,
    /// A view of the global resource rows.
    pub shared_view: bool,
    /// A function per resource table that lists what a tenant may read.
    pub lists: bool,
    /// A function that makes a user a platform admin.
    pub grant_admin: bool,
    pub assign: Option<Assign>,
    pub creators: Creators,
    pub editors: Editors,
    pub memberships: MembershipRules,
    /// Each tenant has a primary owner, whose membership only platform admins touch
    /// and who always reads the tenant.
    pub primary_owner: bool,
    /// Every user gets a personal tenant when it signs up (the schema makes it).
    pub personal: bool,
}

impl Shape {
    pub fn tables(&self) -> impl Iterator<Item = Table> {
        (0..self.tables).map(Table)
    }

    pub fn roles(&self) -> impl Iterator<Item = Role> {
        (0..self.roles.len() as u8).map(Role)
    }

    /// The rights of `role`; a role the shape does not rank (or a shape without roles)
    /// writes and manages nothing beyond what membership gives.
    pub fn rights_of(&self, role: Role) -> RoleRights {
        match self.roles.get(role.0 as usize) {
            Some(rights) => *rights,
            None if self.roles.is_empty() => RoleRights {
                writes: true,
                ..RoleRights::default()
            },
            None => RoleRights::default(),
        }
    }

    /// The next role down in rights (the lowest stays where it is).
    pub fn demoted(&self, role: Role) -> Role {
        Role((role.0 + 1).min(self.roles.len().saturating_sub(1) as u8))
    }

    /// A plain member's role: the highest that neither writes nor is protected (else
    /// the lowest). Probes give it to the members they add.
    pub fn plain(&self) -> Role {
        self.roles()
            .find(|r| {
                let rights = self.rights_of(*r);
                !rights.writes && !rights.protected
            })
            .or_else(|| self.roles().last())
            .unwrap_or(Role(0))
    }

    /// The highest protected role, if any: an owner.
    pub fn protected(&self) -> Option<Role> {
        self.roles().find(|r| self.rights_of(*r).protected)
    }

    /// The objects whose writes the operation space covers, in report order.
    pub fn write_objects(&self) -> Vec<Object> {
        let mut objects: Vec<Object> = self.tables().map(Object::Resource).collect();
        objects.extend([Object::Memberships, Object::Tenants]);
        if self.admins {
            objects.push(Object::PlatformAdmins);
        }
        if self.grant_admin {
            objects.push(Object::GrantAdmin);
        }
        if self.assign.is_some() {
            objects.push(Object::Assign);
        }
        objects
    }
}

/// An object the model predicts exactly. The profile names each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Object {
    Resource(Table),
    Tenants,
    Memberships,
    PlatformAdmins,
    Audit,
    SharedView,
    /// The function that lists the rows of a table a tenant may read.
    Lists(Table),
    /// The function that sets the tenant context.
    SetContext,
    GrantAdmin,
    Assign,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "resource table {}", self.0)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "role {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn four_roles() -> Shape {
        let role = |writes, protected| RoleRights {
            writes,
            manages: writes,
            protected,
        };
        Shape {
            roles: vec![
                role(true, true),
                role(true, false),
                role(false, false),
                role(false, false),
            ],
            ..Shape::default()
        }
    }

    #[test]
    fn roles_move_one_rank_and_stop_at_the_ends() {
        let shape = four_roles();
        assert_eq!(Role(2).promoted(), Role(1));
        assert_eq!(Role(0).promoted(), Role(0));
        assert_eq!(shape.demoted(Role(1)), Role(2));
        assert_eq!(shape.demoted(Role(3)), Role(3));
        assert_eq!(shape.plain(), Role(2));
        assert_eq!(shape.protected(), Some(Role(0)));
    }

    #[test]
    fn without_roles_every_member_writes() {
        let shape = Shape::default();
        assert!(shape.rights_of(Role(0)).writes);
        assert!(!shape.rights_of(Role(0)).manages);
        assert!(!four_roles().rights_of(Role(9)).writes);
    }
}
