//! Time travel of running services through the clock preload library.

mod python;
mod servers;
