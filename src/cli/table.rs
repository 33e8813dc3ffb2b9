/// Prints rows as left-aligned columns under a header.
pub fn print(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = *w));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints a list answer: the whole JSON with `--json`, else the array under `key` as a table.
pub fn listing(answer: &serde_json::Value, as_json: bool, key: &str, header: &[&str], row: impl Fn(&serde_json::Value) -> Vec<String>) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(answer)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = answer[key].as_array().into_iter().flatten().map(row).collect();
    print(header, &rows);
    Ok(())
}
