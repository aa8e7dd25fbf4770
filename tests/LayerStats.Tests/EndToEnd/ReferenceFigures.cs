using System.Diagnostics;
using System.Text.Json;

namespace LayerStats.Tests.EndToEnd;

/// <summary>
/// The independent Python reference (tools/reference/layerstats_reference.py) and the figure-by-figure comparison of a
/// LayerStats database against its output: every summary figure, and the per-image figures of every image.
/// </summary>
public static class ReferenceFigures
{
    private static readonly string[] ImageFields = ["config_digest", "layers", "compressed_bytes", "uncompressed_bytes", "hidden_bytes", "hidden_files", "efficiency", "wasted_bytes", "user_wasted_percent"];

    public static void AssertFigures(CliHarness cli, JsonElement expected)
    {
        var summary = cli.Summary();
        foreach (var property in expected.GetProperty("summary").EnumerateObject())
        {
            Assert.True(summary.ContainsKey(property.Name), $"summary lacks {property.Name}");
            Assert.True(property.Value.GetInt64() == Convert.ToInt64(summary[property.Name]), $"{property.Name}: reference {property.Value}, LayerStats {summary[property.Name]}");
        }

        var images = cli.Query("SELECT * FROM image_summary ORDER BY image_id");
        var expectedImages = expected.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(expectedImages.Select(i => i.GetProperty("image_id").GetString()), images.Rows.Select(r => (string?)r[0]));
        for (int i = 0; i < expectedImages.Count; i++)
        {
            foreach (string field in ImageFields)
            {
                object? ours = images.Rows[i][images.Columns.ToList().IndexOf(field)];
                var theirs = expectedImages[i].GetProperty(field);
                string where = $"{expectedImages[i].GetProperty("image_id")} {field}";
                switch (theirs.ValueKind)
                {
                    case JsonValueKind.String:
                        Assert.True(theirs.GetString() == (string?)ours, $"{where}: reference {theirs}, LayerStats {ours}");
                        break;
                    case JsonValueKind.Null:
                        Assert.Null(ours);
                        break;
                    case JsonValueKind.Number when field is "efficiency" or "user_wasted_percent":
                        Assert.True(theirs.GetDouble() == (double)ours!, $"{where}: reference {theirs}, LayerStats {ours}");
                        break;
                    default:
                        Assert.True(theirs.GetInt64() == Convert.ToInt64(ours), $"{where}: reference {theirs}, LayerStats {ours}");
                        break;
                }
            }
        }
    }

    public static string RunReference(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(TestPaths.Repo("tools", "reference", "layerstats_reference.py"));
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start python3");
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, "reference failed: " + stderr);
        return stdout.Result;
    }
}
