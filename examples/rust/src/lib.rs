//! Nothing here: the examples are the tests in `tests/`, written as a user's suite would
//! write them. See `README.md`.
