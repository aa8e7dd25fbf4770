using LayerStats.Storage;

namespace LayerStats.StoreBench;

/// <summary>What the reports run: every console report (as `layerstats report NAME` runs it), the views the brief names,
/// and every section of the HTML page (as `layerstats report html` runs it).</summary>
public static class Queries
{
    public static IEnumerable<(string Name, string Sql)> All(int top)
    {
        yield return ("summary", "SELECT * FROM summary");
        yield return ("image_summary", "SELECT * FROM image_summary");
        yield return ("shared_layers", "SELECT * FROM shared_layers");
        yield return ("duplicate_files top 100", "SELECT * FROM duplicate_files ORDER BY duplicate_bytes DESC LIMIT 100");
        yield return ("duplicate_files count", "SELECT count(*) FROM duplicate_files");
        yield return ("shared_bases", "SELECT * FROM shared_bases");
        yield return ("trend", "SELECT * FROM trend");
        yield return ("image_file_duplicates", "SELECT * FROM image_file_duplicates");
        yield return ("gate_images", "SELECT * FROM gate_images");
        foreach (string report in new[] { "images", "shared-layers", "shared-bases", "trend", "gate-images" })
        {
            yield return ($"report {report}", ReportQueries.SqlFor(report));
        }

        yield return ("report duplicates --limit 100", ReportQueries.SqlFor("duplicates", 100));
        foreach (string section in ReportQueries.HtmlSectionNames)
        {
            yield return ($"html {section}", ReportQueries.SqlForHtmlSection(section, top));
        }
    }
}
