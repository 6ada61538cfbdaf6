//! Numbers as people read them. Shared with `cargo xtask bench` (which includes this file), so
//! that the report and the benchmark figures write numbers one way.

/// `n` with a comma between groups of three digits: `1234567` is `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
