"""Reading the markdown tables an experiment's ``tables`` function writes (shared by the tests here)."""


def table_rows(markdown: str) -> list[list[list[str]]]:
    """The markdown tables of ``markdown``: lists of rows, each the list of its cells."""
    tables, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            assert line.endswith("|"), line
            current.append([cell.strip() for cell in line[1:-1].split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables
