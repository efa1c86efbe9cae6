"""Exact 2-D geometry of the alignment: FFHQ quads, `crop_from_photo` matrices, point mapping.

*Convention* (whole module): points are float (x, y), x right, y down, pixel centres at
integer coordinates, so pixel (row i, column j) covers [j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]
and an S x S crop covers [-0.5, S - 0.5]^2. This is OpenCV's convention (cv2.warpAffine
maps pixel centres), so a matrix here can be handed to OpenCV unchanged. Matrices are
3x3 float64 named `<dst>_from_<src>` and act on homogeneous column vectors (x, y, 1).
"""

from __future__ import annotations

import numpy as np

from align.errors import AlignError

__all__ = [
    "transform_points",
    "ffhq_quad",
    "crop_from_quad",
    "crop_from_rect",
    "box_to_rect",
    "crop_corners",
]


def _as_points(points: np.ndarray, name: str = "points") -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise AlignError(f"{name} must have shape (N, 2) as (x, y), got {pts.shape}; reshape with .reshape(-1, 2)")
    return pts


def _as_matrix(matrix: np.ndarray, name: str = "matrix") -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise AlignError(f"{name} must be a finite 3x3 matrix, got shape {m.shape}")
    return m


def transform_points(dst_from_src: np.ndarray, points_src: np.ndarray) -> np.ndarray:
    """Map points with a 3x3 projective (or affine) matrix.

    *Convention*: x right, y down, pixel centres at integer coordinates; the matrix acts
    on homogeneous column vectors (x, y, 1).

    Args:
        dst_from_src: (3, 3) float matrix.
        points_src: (N, 2) float (x, y) in the source frame; N may be 0.

    Returns:
        (N, 2) float64 (x, y) in the destination frame.
    """
    m = _as_matrix(dst_from_src, "dst_from_src")
    pts = _as_points(points_src, "points_src")
    out = pts @ m[:2, :2].T + m[:2, 2]
    w = pts @ m[2, :2] + m[2, 2]
    if not np.allclose(m[2], (0.0, 0.0, 1.0)):
        out = out / w[:, None]
    return out


def ffhq_quad(
    landmarks: np.ndarray,
    eye_scale: float = 2.0,
    mouth_scale: float = 1.8,
    center_shift: float = 0.1,
) -> np.ndarray:
    """The oriented square that FFHQ alignment crops from 68 face landmarks.

    Follows NVlabs ffhq-dataset `recreate_aligned_images` (download_ffhq.py), also used by
    PTI / e4e / STIT: eyes = means of lm[36:42] and lm[42:48], mouth = mean of the corners
    lm[48], lm[54]; x = eye_to_eye - rot90(eye_to_mouth), normalised and scaled to
    max(|eye_to_eye| * eye_scale, |eye_to_mouth| * mouth_scale); y = rot90(x);
    centre c = eye_avg + center_shift * eye_to_mouth.

    *Convention*: x right, y down, pixel centres at integer coordinates (dlib's landmark
    coordinates). The corners come in FFHQ's order: top-left, bottom-left, bottom-right,
    top-right of the upright face, i.e. c - x - y, c - x + y, c + x + y, c + x - y.

    Args:
        landmarks: (68, 2) float (x, y), iBUG 300-W 68-point layout (dlib's predictor).
        eye_scale, mouth_scale, center_shift: the quad multipliers (FFHQ: 2.0, 1.8, 0.1).

    Returns:
        (4, 2) float64 quad corners in the landmarks' frame; its side is 2 * |x|.
    """
    lm = _as_points(landmarks, "landmarks")
    if lm.shape[0] != 68:
        raise AlignError(f"landmarks must be the 68-point iBUG layout, got {lm.shape[0]} points")
    eye_left = lm[36:42].mean(axis=0)
    eye_right = lm[42:48].mean(axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    # rot90(v) = flipud(v) * [-1, 1] = (-v_y, v_x): a quarter turn clockwise on screen (y down).
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    norm = np.hypot(*x)
    if not np.isfinite(norm) or norm < 1e-9:
        raise AlignError("degenerate landmarks (eyes and mouth coincide); check the landmark array")
    x = x / norm * max(np.hypot(*eye_to_eye) * eye_scale, np.hypot(*eye_to_mouth) * mouth_scale)
    y = np.array([-x[1], x[0]])
    c = eye_avg + eye_to_mouth * center_shift
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def crop_corners(width: int, height: int | None = None) -> np.ndarray:
    """The outer corners of a width x height image, in FFHQ quad order.

    *Convention*: pixel centres at integer coordinates, so the corners are at -0.5 and
    size - 0.5: top-left, bottom-left, bottom-right, top-right.

    Returns:
        (4, 2) float64.
    """
    h = width if height is None else height
    lo, rx, ry = -0.5, width - 0.5, h - 0.5
    return np.array([[lo, lo], [lo, ry], [rx, ry], [rx, lo]], dtype=np.float64)


def crop_from_quad(quad_photo: np.ndarray, size: int) -> np.ndarray:
    """The affine matrix that maps an FFHQ quad onto the corners of a size x size crop.

    FFHQ hands `quad + 0.5` to PIL's QUAD transform, whose corner coordinates are pixel
    edges: the quad's corners land on the crop's outer pixel corners. With pixel centres at
    integer coordinates that is quad[0] -> (-0.5, -0.5), quad[1] -> (-0.5, S - 0.5),
    quad[2] -> (S - 0.5, S - 0.5), quad[3] -> (S - 0.5, -0.5). The map is fitted exactly
    through the first three corners (a parallelogram's fourth follows).

    *Convention*: x right, y down, pixel centres at integer coordinates.

    Args:
        quad_photo: (4, 2) float, corners in photo pixels, order TL, BL, BR, TR.
        size: crop side S in pixels (> 0).

    Returns:
        crop_from_photo: (3, 3) float64 affine matrix (last row 0, 0, 1).
    """
    quad = _as_points(quad_photo, "quad_photo")
    if quad.shape[0] != 4:
        raise AlignError(f"quad_photo must have 4 corners, got {quad.shape[0]}")
    dst = crop_corners(int(size))
    # Solve [x y 1] @ A.T = dst for the 2x3 affine A through corners 0, 1, 2.
    src_h = np.hstack([quad[:3], np.ones((3, 1))])
    if abs(np.linalg.det(src_h)) < 1e-12:
        raise AlignError("degenerate quad (zero area); check the landmarks or box")
    affine = np.linalg.solve(src_h, dst[:3]).T
    return np.vstack([affine, [0.0, 0.0, 1.0]])


def box_to_rect(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Convert a pixel-index box to the continuous rectangle it covers.

    *Convention*: `box` = (x0, y0, x1, y1) with x1, y1 exclusive, like `photo[y0:y1, x0:x1]`;
    with pixel centres at integer coordinates it covers [x0 - 0.5, x1 - 0.5] x [y0 - 0.5, y1 - 0.5].

    Returns:
        (left, top, right, bottom) float edges.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    return x0 - 0.5, y0 - 0.5, x1 - 0.5, y1 - 0.5


def crop_from_rect(
    rect_photo: tuple[float, float, float, float],
    content_rect_crop: tuple[float, float, float, float],
) -> np.ndarray:
    """Uniform scale + translation that fits a photo rectangle inside the crop's content rectangle.

    The rectangle is scaled as large as possible while fitting entirely (the shorter
    relative side gets extra context) and centred on the content rectangle.

    *Convention*: both rectangles are continuous edges (left, top, right, bottom), x right,
    y down, pixel centres at integer coordinates (see `box_to_rect`).

    Args:
        rect_photo: the photo region to show, in photo pixels.
        content_rect_crop: the generator's content area, in crop pixels.

    Returns:
        crop_from_photo: (3, 3) float64.
    """
    left, top, right, bottom = rect_photo
    cl, ct, cr, cb = content_rect_crop
    w, h = right - left, bottom - top
    if not (w > 0 and h > 0 and np.isfinite(w) and np.isfinite(h)):
        raise AlignError(f"empty or invalid rectangle {rect_photo}; a box needs x1 > x0 and y1 > y0")
    scale = min((cr - cl) / w, (cb - ct) / h)
    tx = (cl + cr) * 0.5 - scale * (left + right) * 0.5
    ty = (ct + cb) * 0.5 - scale * (top + bottom) * 0.5
    return np.array([[scale, 0.0, tx], [0.0, scale, ty], [0.0, 0.0, 1.0]])
