"""Output: tables, CSV and figures, one module per figure family; they only consume results."""
