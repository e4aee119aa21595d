//! SVHN cropped digits ("format 2" of Netzer et al. 2011,
//! <http://ufldl.stanford.edu/housenumbers/>): `train_32x32.mat`,
//! `test_32x32.mat` and the optional `extra_32x32.mat`, MATLAB level-5
//! MAT-files holding `X` (uint8, `32 x 32 x 3 x N`) and `y` (`N x 1`, the
//! digit, with 10 standing for 0).
//!
//! The MAT-file reader and writer here follow "MATLAB 7 MAT-File Format"
//! (The MathWorks, 2023, chapter 1) and cover what numeric data needs:
//! both byte orders, compressed (`miCOMPRESSED`) and plain elements, the
//! small data element format, and numeric classes stored in any numeric
//! type (MATLAB stores a double array of small integers as `miUINT8`).
//! Sparse, cell, struct, object and char arrays are skipped, as are the
//! imaginary parts of complex arrays. Every size read from a file is checked
//! against the bytes that remain before anything of that size is allocated,
//! and no input makes the reader panic.

use crate::{Dataset, Error, ImageSet, Result};
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::fs;
use std::io::{Read, Write};
use std::ops::Range;
use std::path::Path;

/// A numeric MAT-file variable.
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    /// The variable name.
    pub name: String,
    /// MATLAB dimensions; the data is in column-major order over them.
    pub dims: Vec<usize>,
    /// The real part.
    pub data: MatData,
}

/// The values of a [`MatArray`]: `uint8` arrays stay bytes (SVHN's
/// 73,257 x 3072 training pixels would take 1.8 GB as `f64`); every other
/// numeric class becomes `f64`, exact for all but 64-bit integers beyond
/// 2^53.
#[derive(Debug, Clone, PartialEq)]
pub enum MatData {
    /// Class `uint8` (including `logical`).
    U8(Vec<u8>),
    /// Any other numeric class.
    F64(Vec<f64>),
}

impl MatData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            MatData::U8(v) => v.len(),
            MatData::F64(v) => v.len(),
        }
    }

    /// True when there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as `f64`.
    pub fn get(&self, i: usize) -> Option<f64> {
        match self {
            MatData::U8(v) => v.get(i).map(|&x| f64::from(x)),
            MatData::F64(v) => v.get(i).copied(),
        }
    }

    fn class_name(&self) -> &'static str {
        match self {
            MatData::U8(_) => "uint8",
            MatData::F64(_) => "a non-uint8 numeric class",
        }
    }
}

/// The SVHN class names: the digits `"0"` to `"9"` (file label 10 is 0).
pub fn svhn_classes() -> Vec<String> {
    crate::idx::mnist_classes()
}

/// Loads an SVHN cropped-digits directory: `train_32x32.mat` and
/// `test_32x32.mat`, whichever exist (`extra_32x32.mat` is not loaded; use
/// [`load_svhn_mat`] for it). Images are `[3, 32, 32]`.
pub fn load_svhn_dir(dir: &Path) -> Result<Dataset> {
    let load = |file: &str| {
        let path = dir.join(file);
        path.is_file().then(|| load_svhn_mat(&path)).transpose()
    };
    let train = load("train_32x32.mat")?;
    let test = load("test_32x32.mat")?;
    if train.is_none() && test.is_none() {
        return Err(Error::Missing {
            path: dir.to_path_buf(),
            expected: "SVHN cropped digits: train_32x32.mat and/or test_32x32.mat".into(),
        });
    }
    Ok(Dataset {
        name: "svhn".into(),
        train,
        test,
    })
}

/// Loads one SVHN `.mat` file: `X` (uint8, `[32, 32, 3, N]`, column-major)
/// becomes NCHW with row-major rows, and `y` (any numeric class, `N` labels
/// in `1..=10`) becomes the digit, 10 mapping to 0.
pub fn load_svhn_mat(path: &Path) -> Result<ImageSet> {
    let mut x = None;
    let mut y = None;
    for a in read_mat5(path)? {
        match a.name.as_str() {
            "X" => x = Some(a),
            "y" => y = Some(a),
            _ => {}
        }
    }
    let missing = |v: &str, what: &str| {
        Error::format(path, format!("no variable `{v}` ({what}) in this MAT-file"))
    };
    let x = x.ok_or_else(|| missing("X", "the images"))?;
    let y = y.ok_or_else(|| missing("y", "the labels"))?;
    let n = match x.dims[..] {
        [32, 32, 3] => 1,
        [32, 32, 3, n] => n,
        _ => {
            return Err(Error::format(
                path,
                format!(
                    "variable `X` has dimensions {:?}, expected [32, 32, 3, N]",
                    x.dims
                ),
            ))
        }
    };
    let MatData::U8(columns) = x.data else {
        return Err(Error::format(
            path,
            format!("variable `X` is {}, expected uint8", x.data.class_name()),
        ));
    };
    let is_vector = matches!(y.dims[..], [_, 1] | [1, _]);
    if !is_vector {
        return Err(Error::format(
            path,
            format!("variable `y` has dimensions {:?}, expected [N, 1]", y.dims),
        ));
    }
    if y.data.len() != n {
        return Err(Error::format(
            path,
            format!(
                "variable `X` holds {n} images but variable `y` holds {} labels",
                y.data.len()
            ),
        ));
    }
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let v = y.data.get(i).unwrap_or(f64::NAN);
        if !(1.0..=10.0).contains(&v) || v.fract() != 0.0 {
            return Err(Error::format(
                path,
                format!("variable `y`: label {v} of image {i} is not in 1..=10"),
            ));
        }
        labels.push(v as u32 % 10);
    }
    let pixels = column_major_to_nchw(&columns);
    drop(columns);
    ImageSet::new(pixels, [3, 32, 32], labels, svhn_classes())
}

/// MATLAB element `(r, c, ch, n)` of `X` is at `r + 32 c + 1024 ch + 3072 n`;
/// NCHW wants it at `3072 n + 1024 ch + 32 r + c`.
fn column_major_to_nchw(columns: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; columns.len()];
    for (src, dst) in columns.chunks_exact(3072).zip(out.chunks_exact_mut(3072)) {
        for (src, dst) in src.chunks_exact(1024).zip(dst.chunks_exact_mut(1024)) {
            for (c, column) in src.chunks_exact(32).enumerate() {
                for (r, &v) in column.iter().enumerate() {
                    dst[r * 32 + c] = v;
                }
            }
        }
    }
    out
}

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

const MX_DOUBLE: u32 = 6;
const MX_UINT8: u32 = 9;
const MX_UINT64: u32 = 15;

const HEADER_LEN: usize = 128;
const MAT_VERSION: u16 = 0x0100;

/// Byte order of a MAT-file, from its endian indicator (`"IM"`: little,
/// `"MI"`: big).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }

    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }

    fn put_u16(self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        });
    }

    fn put_u32(self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        });
    }

    fn put_f64(self, out: &mut Vec<u8>, v: f64) {
        out.extend_from_slice(&match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        });
    }

    /// Decodes `bytes` of MAT type `ty` (whose length is a multiple of its
    /// size) to `f64`.
    fn decode(self, ty: u32, bytes: &[u8]) -> Vec<f64> {
        let size = mi_size(ty).unwrap_or(1);
        let one = |c: &[u8]| -> f64 {
            let mut b = [0u8; 8];
            b[..size].copy_from_slice(c);
            if self == Endian::Big {
                b[..size].reverse();
            }
            let w4 = [b[0], b[1], b[2], b[3]];
            match ty {
                MI_INT8 => f64::from(b[0] as i8),
                MI_UINT8 => f64::from(b[0]),
                MI_INT16 => f64::from(i16::from_le_bytes([b[0], b[1]])),
                MI_UINT16 => f64::from(u16::from_le_bytes([b[0], b[1]])),
                MI_INT32 => f64::from(i32::from_le_bytes(w4)),
                MI_UINT32 => f64::from(u32::from_le_bytes(w4)),
                MI_SINGLE => f64::from(f32::from_le_bytes(w4)),
                MI_DOUBLE => f64::from_le_bytes(b),
                MI_INT64 => i64::from_le_bytes(b) as f64,
                MI_UINT64 => u64::from_le_bytes(b) as f64,
                _ => f64::NAN,
            }
        };
        bytes.chunks_exact(size).map(one).collect()
    }
}

/// Size in bytes of a numeric MAT data type.
fn mi_size(ty: u32) -> Option<usize> {
    match ty {
        MI_INT8 | MI_UINT8 => Some(1),
        MI_INT16 | MI_UINT16 => Some(2),
        MI_INT32 | MI_UINT32 | MI_SINGLE => Some(4),
        MI_DOUBLE | MI_INT64 | MI_UINT64 => Some(8),
        _ => None,
    }
}

/// A data element: its type and where its data lies in the buffer read.
struct Element {
    ty: u32,
    data: Range<usize>,
}

/// A bounds-checked cursor over a buffer of data elements. `context` names
/// the place (e.g. a compressed element) in error messages.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    endian: Endian,
    path: &'a Path,
    context: String,
}

impl Cursor<'_> {
    fn error(&self, at: usize, problem: impl std::fmt::Display) -> Error {
        Error::format(self.path, format!("{}byte {at}: {problem}", self.context))
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads the next element. `pad` skips the padding to 8 bytes that
    /// follows subelements of a matrix (top-level elements are not padded,
    /// and the last subelement's padding may be absent).
    fn element(&mut self, pad: bool) -> Result<Element> {
        let at = self.pos;
        if self.remaining() < 8 {
            return Err(self.error(
                at,
                format!(
                    "truncated: {} bytes left, a data element tag needs 8",
                    self.remaining()
                ),
            ));
        }
        let word = |i: usize| {
            self.endian.u32([
                self.buf[i],
                self.buf[i + 1],
                self.buf[i + 2],
                self.buf[i + 3],
            ])
        };
        let first = word(at);
        if first >> 16 != 0 {
            let len = (first >> 16) as usize;
            if len > 4 {
                return Err(self.error(
                    at,
                    format!("small data element declares {len} bytes, at most 4 fit"),
                ));
            }
            self.pos += 8;
            return Ok(Element {
                ty: first & 0xffff,
                data: at + 4..at + 4 + len,
            });
        }
        let len = word(at + 4) as usize;
        self.pos += 8;
        if len > self.remaining() {
            return Err(self.error(
                at,
                format!(
                    "truncated: the element declares {len} bytes, only {} remain",
                    self.remaining()
                ),
            ));
        }
        let data = self.pos..self.pos + len;
        let padded = if pad { len.next_multiple_of(8) } else { len };
        self.pos += padded.min(self.remaining());
        Ok(Element { ty: first, data })
    }
}

/// Where a matrix's parts lie in its buffer.
struct MatrixParts {
    name: String,
    dims: Vec<usize>,
    class: u32,
    real_type: u32,
    real: Range<usize>,
}

impl MatrixParts {
    /// True when the values are `uint8` stored as `miUINT8`: the bytes are
    /// the data, with no conversion.
    fn is_plain_u8(&self) -> bool {
        self.class == MX_UINT8 && self.real_type == MI_UINT8
    }
}

/// Parses the body of an `miMATRIX` element, `cur.buf[body]`. Returns `None`
/// for arrays that are not numeric (or are empty placeholders).
fn matrix_parts(cur: &Cursor<'_>, body: Range<usize>) -> Result<Option<MatrixParts>> {
    if body.is_empty() {
        return Ok(None);
    }
    let mut sub = Cursor {
        buf: &cur.buf[..body.end],
        pos: body.start,
        endian: cur.endian,
        path: cur.path,
        context: cur.context.clone(),
    };
    let at = sub.pos;
    let flags = sub.element(true)?;
    if flags.ty != MI_UINT32 || flags.data.len() < 4 {
        return Err(sub.error(at, "array flags: expected an miUINT32 subelement"));
    }
    let f = &sub.buf[flags.data.start..flags.data.start + 4];
    let class = sub.endian.u32([f[0], f[1], f[2], f[3]]) & 0xff;
    if !(MX_DOUBLE..=MX_UINT64).contains(&class) {
        return Ok(None);
    }
    let at = sub.pos;
    let dims_el = sub.element(true)?;
    if dims_el.ty != MI_INT32 || dims_el.data.len() % 4 != 0 || dims_el.data.is_empty() {
        return Err(sub.error(at, "dimensions: expected a non-empty miINT32 subelement"));
    }
    let mut dims = Vec::with_capacity(dims_el.data.len() / 4);
    for d in sub.buf[dims_el.data].chunks_exact(4) {
        let d = sub.endian.u32([d[0], d[1], d[2], d[3]]) as i32;
        let d = usize::try_from(d).map_err(|_| sub.error(at, format!("negative dimension {d}")))?;
        dims.push(d);
    }
    let at = sub.pos;
    let name_el = sub.element(true)?;
    if name_el.ty != MI_INT8 && name_el.ty != MI_UINT8 {
        return Err(sub.error(at, "array name: expected an miINT8 subelement"));
    }
    let name = String::from_utf8_lossy(&sub.buf[name_el.data]).into_owned();
    let at = sub.pos;
    let real = sub.element(true)?;
    let size = mi_size(real.ty).ok_or_else(|| {
        sub.error(
            at,
            format!(
                "variable `{name}`: real part of type {}, expected a numeric type",
                real.ty
            ),
        )
    })?;
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if real.data.len() % size != 0 || Some(real.data.len() / size) != count {
        return Err(sub.error(
            at,
            format!(
                "variable `{name}`: the real part holds {} bytes of {size}-byte values, \
                 dimensions {dims:?} need {} values",
                real.data.len(),
                count.map_or_else(|| "an overflowing number of".into(), |c| c.to_string())
            ),
        ));
    }
    Ok(Some(MatrixParts {
        name,
        dims,
        class,
        real_type: real.ty,
        real: real.data,
    }))
}

/// Converts a real part (`buf[parts.real]`) that is not plain `uint8` bytes:
/// to `f64`, or for class `uint8` stored in a wider type, back to bytes.
fn convert(cur: &Cursor<'_>, parts: &MatrixParts) -> Result<MatData> {
    let values = cur
        .endian
        .decode(parts.real_type, &cur.buf[parts.real.clone()]);
    if parts.class != MX_UINT8 {
        return Ok(MatData::F64(values));
    }
    let mut bytes = Vec::with_capacity(values.len());
    for v in values {
        if !(0.0..=255.0).contains(&v) || v.fract() != 0.0 {
            return Err(cur.error(
                parts.real.start,
                format!("variable `{}`: uint8 array holds {v}", parts.name),
            ));
        }
        bytes.push(v as u8);
    }
    Ok(MatData::U8(bytes))
}

/// Reads the numeric variables of a MATLAB level-5 MAT-file (the format of
/// MATLAB's `save -v6` / `-v7`; version 7.3 files are HDF5 and are refused
/// with a message saying so). Non-numeric variables are skipped.
pub fn read_mat5(path: &Path) -> Result<Vec<MatArray>> {
    let buf = fs::read(path).map_err(|e| Error::io(path, e))?;
    let endian = parse_header(path, &buf)?;
    let mut cur = Cursor {
        buf: &buf,
        pos: HEADER_LEN,
        endian,
        path,
        context: String::new(),
    };
    let mut arrays = Vec::new();
    while cur.remaining() >= 8 {
        let at = cur.pos;
        let el = cur.element(false)?;
        match el.ty {
            MI_MATRIX => {
                if let Some(parts) = matrix_parts(&cur, el.data)? {
                    let data = if parts.is_plain_u8() {
                        MatData::U8(buf[parts.real.clone()].to_vec())
                    } else {
                        convert(&cur, &parts)?
                    };
                    arrays.push(MatArray {
                        name: parts.name,
                        dims: parts.dims,
                        data,
                    });
                }
            }
            MI_COMPRESSED => {
                if let Some(a) = read_compressed(path, endian, at, &buf[el.data])? {
                    arrays.push(a);
                }
            }
            _ => {}
        }
    }
    Ok(arrays)
}

/// Inflates an `miCOMPRESSED` element and reads the one element inside.
/// The inner tag is inflated first so that the output is capped at the
/// size it declares.
fn read_compressed(
    path: &Path,
    endian: Endian,
    at: usize,
    compressed: &[u8],
) -> Result<Option<MatArray>> {
    let zerr = |e: std::io::Error| {
        Error::format(
            path,
            format!("compressed element at byte {at}: corrupt zlib stream: {e}"),
        )
    };
    let mut z = ZlibDecoder::new(compressed);
    let mut inner = Vec::with_capacity(8);
    (&mut z).take(8).read_to_end(&mut inner).map_err(zerr)?;
    if inner.len() < 8 {
        return Err(Error::format(
            path,
            format!(
                "compressed element at byte {at}: truncated: {} bytes inflated, a tag needs 8",
                inner.len()
            ),
        ));
    }
    let ty = endian.u32([inner[0], inner[1], inner[2], inner[3]]);
    if ty != MI_MATRIX {
        return Ok(None);
    }
    let len = endian.u32([inner[4], inner[5], inner[6], inner[7]]) as usize;
    z.take(len as u64).read_to_end(&mut inner).map_err(zerr)?;
    if inner.len() - 8 < len {
        return Err(Error::format(
            path,
            format!(
                "compressed element at byte {at}: truncated: the inner element declares \
                 {len} bytes, the stream inflates to {}",
                inner.len() - 8
            ),
        ));
    }
    let cur = Cursor {
        buf: &inner,
        pos: 0,
        endian,
        path,
        context: format!("compressed element at byte {at}, inflated "),
    };
    let Some(parts) = matrix_parts(&cur, 8..inner.len())? else {
        return Ok(None);
    };
    let data = if parts.is_plain_u8() {
        inner.truncate(parts.real.end);
        inner.drain(..parts.real.start);
        MatData::U8(inner)
    } else {
        convert(&cur, &parts)?
    };
    Ok(Some(MatArray {
        name: parts.name,
        dims: parts.dims,
        data,
    }))
}

/// Checks the 128-byte header (text, subsystem offset, version, endian
/// indicator) and returns the byte order.
fn parse_header(path: &Path, buf: &[u8]) -> Result<Endian> {
    if buf.len() < HEADER_LEN {
        return Err(Error::format(
            path,
            format!(
                "truncated: {} bytes, too short for the {HEADER_LEN}-byte MAT-file header",
                buf.len()
            ),
        ));
    }
    let endian = match &buf[126..128] {
        b"IM" => Endian::Little,
        b"MI" => Endian::Big,
        other => {
            return Err(Error::format(
                path,
                format!(
                    "not a MATLAB level-5 MAT-file: endian indicator {:?}, \
                     expected \"IM\" or \"MI\"",
                    String::from_utf8_lossy(other)
                ),
            ))
        }
    };
    let version = endian.u16([buf[124], buf[125]]);
    if version != MAT_VERSION {
        let hint = if version == 0x0200 {
            " (a MATLAB 7.3 HDF5 file: re-save it with `save -v7`)"
        } else {
            ""
        };
        return Err(Error::format(
            path,
            format!("MAT-file version 0x{version:04x}{hint}, expected 0x0100"),
        ));
    }
    Ok(endian)
}

/// Writes `arrays` as a little-endian MATLAB level-5 MAT-file, each variable
/// zlib-compressed (`miCOMPRESSED`, as MATLAB's default `-v7`) when
/// `compress`. A `F64` array of integers in `0..=255` is stored as `miUINT8`
/// with class double, as MATLAB does; SVHN's `y` is stored that way.
pub fn write_mat5(path: &Path, arrays: &[MatArray], compress: bool) -> Result<()> {
    let bytes = encode_mat5(arrays, compress, Endian::Little)?;
    fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

fn encode_mat5(arrays: &[MatArray], compress: bool, endian: Endian) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut text = b"MATLAB 5.0 MAT-file, written by sc-data (semcon)".to_vec();
    text.resize(116, b' ');
    out.extend_from_slice(&text);
    out.extend_from_slice(&[0; 8]);
    endian.put_u16(&mut out, MAT_VERSION);
    endian.put_u16(&mut out, u16::from_be_bytes(*b"MI"));
    for a in arrays {
        let matrix = encode_matrix(a, endian)?;
        if compress {
            let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
            let io = |e: std::io::Error| Error::arg("MAT-file", format!("zlib: {e}"));
            z.write_all(&matrix).map_err(io)?;
            let z = z.finish().map_err(io)?;
            put_tag(&mut out, endian, MI_COMPRESSED, z.len(), &a.name)?;
            out.extend_from_slice(&z);
        } else {
            out.extend_from_slice(&matrix);
        }
    }
    Ok(out)
}

fn put_tag(out: &mut Vec<u8>, endian: Endian, ty: u32, len: usize, name: &str) -> Result<()> {
    let len = u32::try_from(len).map_err(|_| {
        Error::arg(
            "MAT array",
            format!("variable `{name}` exceeds the 4 GiB element size of MAT-file level 5"),
        )
    })?;
    endian.put_u32(out, ty);
    endian.put_u32(out, len);
    Ok(())
}

fn pad8(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(8), 0);
}

fn encode_matrix(a: &MatArray, endian: Endian) -> Result<Vec<u8>> {
    let count = a.dims.iter().try_fold(1usize, |x, &d| x.checked_mul(d));
    if a.dims.len() < 2 || count != Some(a.data.len()) {
        return Err(Error::arg(
            "MAT array",
            format!(
                "variable `{}`: dimensions {:?} (at least 2) must hold its {} values",
                a.name,
                a.dims,
                a.data.len()
            ),
        ));
    }
    let mut body = Vec::new();
    let class = match a.data {
        MatData::U8(_) => MX_UINT8,
        MatData::F64(_) => MX_DOUBLE,
    };
    put_tag(&mut body, endian, MI_UINT32, 8, &a.name)?;
    endian.put_u32(&mut body, class);
    endian.put_u32(&mut body, 0);

    put_tag(&mut body, endian, MI_INT32, 4 * a.dims.len(), &a.name)?;
    for &d in &a.dims {
        let d = i32::try_from(d).map_err(|_| {
            Error::arg(
                "MAT array",
                format!("variable `{}`: dimension {d} exceeds i32", a.name),
            )
        })?;
        endian.put_u32(&mut body, d as u32);
    }
    pad8(&mut body);

    let name = a.name.as_bytes();
    if !name.is_empty() && name.len() <= 4 {
        endian.put_u32(&mut body, ((name.len() as u32) << 16) | MI_INT8);
        body.extend_from_slice(name);
        body.resize(body.len() + 4 - name.len(), 0);
    } else {
        put_tag(&mut body, endian, MI_INT8, name.len(), &a.name)?;
        body.extend_from_slice(name);
        pad8(&mut body);
    }

    match &a.data {
        MatData::U8(v) => {
            put_tag(&mut body, endian, MI_UINT8, v.len(), &a.name)?;
            body.extend_from_slice(v);
        }
        MatData::F64(v)
            if v.iter()
                .all(|&x| (0.0..=255.0).contains(&x) && x.fract() == 0.0) =>
        {
            put_tag(&mut body, endian, MI_UINT8, v.len(), &a.name)?;
            body.extend(v.iter().map(|&x| x as u8));
        }
        MatData::F64(v) => {
            put_tag(&mut body, endian, MI_DOUBLE, 8 * v.len(), &a.name)?;
            for &x in v {
                endian.put_f64(&mut body, x);
            }
        }
    }
    pad8(&mut body);

    let mut out = Vec::with_capacity(body.len() + 8);
    put_tag(&mut out, endian, MI_MATRIX, body.len(), &a.name)?;
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tempfile::TempDir;

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    fn u8_array(name: &str, dims: &[usize], seed: usize) -> MatArray {
        let n: usize = dims.iter().product();
        MatArray {
            name: name.into(),
            dims: dims.to_vec(),
            data: MatData::U8((0..n).map(|i| ((i * 37 + seed) % 256) as u8).collect()),
        }
    }

    fn f64_array(name: &str, dims: &[usize], values: Vec<f64>) -> MatArray {
        MatArray {
            name: name.into(),
            dims: dims.to_vec(),
            data: MatData::F64(values),
        }
    }

    fn sample_arrays() -> Vec<MatArray> {
        vec![
            u8_array("X", &[4, 3, 2], 5),
            f64_array("y", &[3, 1], vec![10.0, 1.0, 255.0]),
            f64_array("a_longer_name", &[2, 2], vec![0.5, -1.0, 3e10, f64::MAX]),
            u8_array("empty", &[0, 0], 0),
        ]
    }

    #[test]
    fn mat5_round_trip_both_byte_orders_plain_and_compressed() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("a.mat");
        for compress in [false, true] {
            for endian in [Endian::Little, Endian::Big] {
                let arrays = sample_arrays();
                let bytes = encode_mat5(&arrays, compress, endian).unwrap();
                let indicator = if endian == Endian::Little {
                    b"IM"
                } else {
                    b"MI"
                };
                assert_eq!(&bytes[126..128], indicator);
                fs::write(&path, &bytes).unwrap();
                assert_eq!(
                    read_mat5(&path).unwrap(),
                    arrays,
                    "compress {compress} {endian:?}"
                );
            }
            write_mat5(&path, &sample_arrays(), compress).unwrap();
            assert_eq!(read_mat5(&path).unwrap(), sample_arrays());
        }
    }

    /// A matrix element built by hand, with `values` stored as `storage`,
    /// as MATLAB does for double arrays of small integers.
    fn raw_matrix(
        endian: Endian,
        class: u32,
        storage: u32,
        dims: &[i32],
        name: &str,
        data: &[u8],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        for v in [MI_UINT32, 8, class, 0] {
            endian.put_u32(&mut body, v);
        }
        endian.put_u32(&mut body, MI_INT32);
        endian.put_u32(&mut body, 4 * dims.len() as u32);
        for &d in dims {
            endian.put_u32(&mut body, d as u32);
        }
        pad8(&mut body);
        endian.put_u32(&mut body, MI_INT8);
        endian.put_u32(&mut body, name.len() as u32);
        body.extend_from_slice(name.as_bytes());
        pad8(&mut body);
        endian.put_u32(&mut body, storage);
        endian.put_u32(&mut body, data.len() as u32);
        body.extend_from_slice(data);
        pad8(&mut body);
        let mut out = Vec::new();
        endian.put_u32(&mut out, MI_MATRIX);
        endian.put_u32(&mut out, body.len() as u32);
        out.extend_from_slice(&body);
        out
    }

    fn file_with(endian: Endian, elements: &[Vec<u8>]) -> Vec<u8> {
        let mut out = encode_mat5(&[], false, endian).unwrap();
        for e in elements {
            out.extend_from_slice(e);
        }
        out
    }

    /// Little-endian `le` bytes of `size`-byte values, in `endian` order.
    fn ordered(endian: Endian, le: Vec<u8>, size: usize) -> Vec<u8> {
        match endian {
            Endian::Little => le,
            Endian::Big => le
                .chunks(size)
                .flat_map(|c| c.iter().rev().copied())
                .collect(),
        }
    }

    #[test]
    fn numeric_storage_types_are_decoded() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("t.mat");
        for endian in [Endian::Little, Endian::Big] {
            let int16: Vec<u8> = [-3i16, 300, 7]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let single: Vec<u8> = [1.5f32, -2.25]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let uint16: Vec<u8> = [1u16, 2, 255]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let int8 = vec![0xff, 0x7f];
            let els = vec![
                raw_matrix(
                    endian,
                    MX_DOUBLE,
                    MI_INT16,
                    &[1, 3],
                    "i16",
                    &ordered(endian, int16.clone(), 2),
                ),
                raw_matrix(
                    endian,
                    7,
                    MI_SINGLE,
                    &[2, 1],
                    "s",
                    &ordered(endian, single, 4),
                ),
                raw_matrix(
                    endian,
                    MX_UINT8,
                    MI_UINT16,
                    &[1, 3],
                    "u8w",
                    &ordered(endian, uint16, 2),
                ),
                raw_matrix(
                    endian,
                    MX_DOUBLE,
                    MI_UINT64,
                    &[1, 1],
                    "u64",
                    &ordered(endian, 9u64.to_le_bytes().to_vec(), 8),
                ),
                raw_matrix(endian, 8, MI_INT8, &[2, 1], "i8", &int8),
                // A cell array (class 1) is skipped.
                raw_matrix(endian, 1, MI_UINT8, &[1, 1], "cell", &[0]),
            ];
            fs::write(&path, file_with(endian, &els)).unwrap();
            let arrays = read_mat5(&path).unwrap();
            let names: Vec<&str> = arrays.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(names, ["i16", "s", "u8w", "u64", "i8"], "{endian:?}");
            assert_eq!(arrays[0].data, MatData::F64(vec![-3.0, 300.0, 7.0]));
            assert_eq!(arrays[0].dims, [1, 3]);
            assert_eq!(arrays[1].data, MatData::F64(vec![1.5, -2.25]));
            assert_eq!(arrays[2].data, MatData::U8(vec![1, 2, 255]));
            assert_eq!(arrays[3].data, MatData::F64(vec![9.0]));
            assert_eq!(arrays[4].data, MatData::F64(vec![-1.0, 127.0]));

            // Class uint8 stored as int16 with 300 in it cannot be uint8.
            let bad = raw_matrix(
                endian,
                MX_UINT8,
                MI_INT16,
                &[1, 3],
                "bad",
                &ordered(endian, int16, 2),
            );
            fs::write(&path, file_with(endian, &[bad])).unwrap();
            let msg = err_text(read_mat5(&path));
            assert!(
                msg.contains("t.mat") && msg.contains("`bad`") && msg.contains("-3"),
                "{msg}"
            );
        }
    }

    /// An SVHN-style file from NCHW images: `X` column-major `[32,32,3,N]`.
    fn svhn_file(path: &Path, nchw: &[u8], y: Vec<f64>, compress: bool) {
        let n = nchw.len() / 3072;
        let mut x = vec![0u8; nchw.len()];
        for i in 0..n {
            for ch in 0..3 {
                for r in 0..32 {
                    for c in 0..32 {
                        x[r + 32 * c + 1024 * ch + 3072 * i] =
                            nchw[i * 3072 + ch * 1024 + r * 32 + c];
                    }
                }
            }
        }
        let arrays = [
            MatArray {
                name: "X".into(),
                dims: vec![32, 32, 3, n],
                data: MatData::U8(x),
            },
            f64_array("y", &[n, 1], y),
        ];
        write_mat5(path, &arrays, compress).unwrap();
    }

    fn nchw_images(n: usize) -> Vec<u8> {
        (0..n * 3072)
            .map(|i| ((i * 7 + i / 1024 * 3 + i / 32) % 253) as u8)
            .collect()
    }

    #[test]
    fn svhn_round_trip_and_orientation() {
        for compress in [false, true] {
            let dir = TempDir::new().unwrap();
            let train = nchw_images(3);
            svhn_file(
                &dir.path().join("train_32x32.mat"),
                &train,
                vec![10.0, 1.0, 5.0],
                compress,
            );
            let test = nchw_images(2)[..].iter().rev().copied().collect::<Vec<_>>();
            svhn_file(
                &dir.path().join("test_32x32.mat"),
                &test,
                vec![9.0, 10.0],
                compress,
            );
            let ds = load_svhn_dir(dir.path()).unwrap();
            assert_eq!(ds.name, "svhn");
            let t = ds.train.as_ref().unwrap();
            assert_eq!(t.image_shape(), [3, 32, 32]);
            assert_eq!(t.labels(), &[0, 1, 5]);
            assert_eq!(t.pixels(), &train[..]);
            let s = ds.test.as_ref().unwrap();
            assert_eq!(s.labels(), &[9, 0]);
            assert_eq!(s.pixels(), &test[..]);
            assert_eq!(ds.classes(), &svhn_classes()[..]);
        }

        // One bright pixel at MATLAB X(row 1, col 6, channel 2, image 2)
        // (1-based) lands at NCHW [1][1][0][5].
        let dir = TempDir::new().unwrap();
        let mut x = vec![0u8; 2 * 3072];
        x[5 * 32 + 1024 + 3072] = 200;
        let arrays = [
            MatArray {
                name: "X".into(),
                dims: vec![32, 32, 3, 2],
                data: MatData::U8(x),
            },
            f64_array("y", &[2, 1], vec![3.0, 4.0]),
        ];
        write_mat5(&dir.path().join("test_32x32.mat"), &arrays, true).unwrap();
        let ds = load_svhn_dir(dir.path()).unwrap();
        assert!(ds.train.is_none());
        let px = ds.test.as_ref().unwrap().pixels();
        assert_eq!(px[3072 + 1024 + 5], 200);
        assert_eq!(px.iter().filter(|&&p| p != 0).count(), 1);
    }

    #[test]
    fn svhn_errors_name_file_and_variable() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("train_32x32.mat");
        let err = load_svhn_dir(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Missing { .. }));
        assert!(err.to_string().contains("train_32x32.mat"));

        let x = u8_array("X", &[32, 32, 3, 2], 0);
        let cases: Vec<(Vec<MatArray>, &str)> = vec![
            (vec![x.clone()], "`y`"),
            (vec![f64_array("y", &[2, 1], vec![1.0, 2.0])], "`X`"),
            (
                vec![
                    u8_array("X", &[32, 32, 2, 3], 0),
                    f64_array("y", &[3, 1], vec![1.0; 3]),
                ],
                "dimensions",
            ),
            (
                vec![x.clone(), f64_array("y", &[3, 1], vec![1.0; 3])],
                "2 images but variable `y` holds 3",
            ),
            (
                vec![x.clone(), f64_array("y", &[2, 1], vec![1.0, 0.0])],
                "label 0 of image 1",
            ),
            (
                vec![x.clone(), f64_array("y", &[2, 1], vec![11.0, 1.0])],
                "label 11",
            ),
            (
                vec![x.clone(), f64_array("y", &[2, 1], vec![1.5, 1.0])],
                "label 1.5",
            ),
            (
                vec![x.clone(), f64_array("y", &[2, 2], vec![1.0; 4])],
                "`y` has dimensions",
            ),
            (
                vec![
                    f64_array("X", &[32, 32, 3, 1], vec![0.5; 3072]),
                    f64_array("y", &[1, 1], vec![1.0]),
                ],
                "expected uint8",
            ),
        ];
        for (arrays, needle) in cases {
            write_mat5(&path, &arrays, false).unwrap();
            let msg = err_text(load_svhn_dir(dir.path()));
            assert!(
                msg.contains("train_32x32.mat") && msg.contains(needle),
                "{needle}: {msg}"
            );
        }
        // A single image: MATLAB drops the trailing singleton dimension.
        write_mat5(
            &path,
            &[
                u8_array("X", &[32, 32, 3], 0),
                f64_array("y", &[1, 1], vec![7.0]),
            ],
            true,
        )
        .unwrap();
        assert_eq!(
            load_svhn_dir(dir.path()).unwrap().train.unwrap().labels(),
            &[7]
        );
    }

    #[test]
    fn corrupt_mat_files_are_reported() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("bad.mat");
        for compress in [false, true] {
            let bytes = encode_mat5(&sample_arrays(), compress, Endian::Little).unwrap();
            fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
            let msg = err_text(read_mat5(&path));
            assert!(
                msg.contains("bad.mat") && (msg.contains("truncated") || msg.contains("zlib")),
                "{msg}"
            );
        }
        fs::write(&path, b"short").unwrap();
        let msg = err_text(read_mat5(&path));
        assert!(
            msg.contains("bad.mat") && msg.contains("truncated"),
            "{msg}"
        );
        let mut not_mat = vec![b' '; 128];
        not_mat[126] = b'X';
        fs::write(&path, &not_mat).unwrap();
        let msg = err_text(read_mat5(&path));
        assert!(
            msg.contains("bad.mat") && msg.contains("endian indicator"),
            "{msg}"
        );
        let mut v73 = encode_mat5(&[], false, Endian::Little).unwrap();
        v73[124..126].copy_from_slice(&0x0200u16.to_le_bytes());
        fs::write(&path, &v73).unwrap();
        let msg = err_text(read_mat5(&path));
        assert!(msg.contains("7.3"), "{msg}");
        // A huge declared dimension is checked against the data, not allocated.
        let el = raw_matrix(
            Endian::Little,
            MX_UINT8,
            MI_UINT8,
            &[i32::MAX, i32::MAX],
            "X",
            &[1, 2],
        );
        fs::write(&path, file_with(Endian::Little, &[el])).unwrap();
        let msg = err_text(read_mat5(&path));
        assert!(msg.contains("bad.mat") && msg.contains("`X`"), "{msg}");
        let el = raw_matrix(Endian::Little, MX_UINT8, MI_UINT8, &[-1, 2], "X", &[1, 2]);
        fs::write(&path, file_with(Endian::Little, &[el])).unwrap();
        assert!(err_text(read_mat5(&path)).contains("negative dimension"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn reader_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            big in any::<bool>(),
        ) {
            let dir = TempDir::new().unwrap();
            let path = dir.path().join("r.mat");
            let endian = if big { Endian::Big } else { Endian::Little };
            let header = encode_mat5(&[], false, endian).unwrap();
            for content in [bytes.clone(), [header, bytes].concat()] {
                fs::write(&path, &content).unwrap();
                let _ = read_mat5(&path);
            }
        }

        #[test]
        fn reader_never_panics_on_mutated_files(
            compress in any::<bool>(),
            big in any::<bool>(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let dir = TempDir::new().unwrap();
            let path = dir.path().join("m.mat");
            let endian = if big { Endian::Big } else { Endian::Little };
            let mut bytes = encode_mat5(&sample_arrays(), compress, endian).unwrap();
            for (i, v) in edits {
                let i = 128 + i.index(bytes.len() - 128);
                bytes[i] = v;
            }
            fs::write(&path, &bytes).unwrap();
            let _ = read_mat5(&path);
            let _ = load_svhn_mat(&path);
            bytes.truncate(cut.index(bytes.len() + 1));
            fs::write(&path, &bytes).unwrap();
            let _ = read_mat5(&path);
        }
    }
}
