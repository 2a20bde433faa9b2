//! One file per family of commands.

pub mod backup;
pub mod basic;
pub mod group;
pub mod recv;
pub mod send;
