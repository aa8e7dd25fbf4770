using System.Text;
using LayerStats.Storage;

namespace LayerStats.Reports;

/// <summary>
/// One CSV per report (RFC 4180, UTF-8 without BOM, LF line ends, a header row of the view's column names;
/// bytes as plain integers). Cells are exact by default; <c>excelSafe</c> prefixes cells that a spreadsheet
/// would run as a formula (starting with = + - @, tab or CR) with a single quote.
/// </summary>
public static class CsvReports
{
    /// <summary>The reports written, file name = report name + ".csv".</summary>
    public static readonly IReadOnlyList<string> Reports = ["summary", "images", "shared-layers", "shared-bases", "duplicates", "trend"];

    public static IReadOnlyList<string> Write(LayerStatsDatabase database, string directory, bool excelSafe)
    {
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        foreach (string report in Reports)
        {
            var result = ReportQueries.Run(database, ReportQueries.SqlFor(report));
            string path = Path.Combine(directory, report + ".csv");
            string temp = path + ".tmp";
            using (var writer = new StreamWriter(temp, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)))
            {
                ResultWriters.WriteCsv(result, writer, excelSafe);
            }

            File.Move(temp, path, overwrite: true);
            written.Add(path);
        }

        return written;
    }
}
