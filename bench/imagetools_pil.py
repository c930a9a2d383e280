"""The same jobs as bench/imagetools_job.lua, done with Python and PIL the
way the OpenAI cookbook and common sprite scripts do them; prints the CPU
seconds per run and the size of what it made.
    python3 imagetools_pil.py mask|sheet INPUT REPS"""
import io
import sys
import time

from PIL import Image


def mask(path):
    # the cookbook's masked-edit recipe
    bw = Image.open(path).convert("L")
    rgba = bw.convert("RGBA")
    rgba.putalpha(bw)
    out = io.BytesIO()
    rgba.save(out, format="PNG")
    return out.getvalue()


def sheet(path):
    gif = Image.open(path)
    width, height, count = gif.width, gif.height, gif.n_frames
    sheet_image = Image.new("RGBA", (width * count, height))
    for i in range(count):
        gif.seek(i)
        sheet_image.paste(gif.convert("RGBA"), (i * width, 0))
    out = io.BytesIO()
    sheet_image.save(out, format="PNG")
    return out.getvalue()


def main():
    op, path, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    job = {"mask": mask, "sheet": sheet}[op]
    data = job(path)
    start = time.process_time()
    for _ in range(reps):
        data = job(path)
    sys.stdout.write("%.6f %d\n" % ((time.process_time() - start) / reps, len(data)))


main()
