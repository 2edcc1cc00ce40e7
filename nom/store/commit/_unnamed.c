/* Unnamed temp files, a group at a time, without the interpreter lock.
 *
 * nom.store.commit.files writes each array of a group to a file with no name (O_TMPFILE) and, once the
 * group is durable, links each one into place. In Python every open, write, link and close
 * gives the interpreter lock up and takes it back, and with the writer's other threads running
 * that hand-over costs more than the system call itself. These two functions do a whole group's
 * calls with the lock released once. They are an optimisation only: nom.store.commit.files does the same
 * in Python where this module is not built.
 *
 *   write_unnamed(folders: list[bytes], datas: list[bytes], datasync: bool) -> (fds, errno)
 *       fds: one open unnamed file per data, in order, for as many as succeeded; errno: 0, or the
 *       error that stopped the next one (the file it was writing is closed and gone).
 *   link_unnamed(fds: list[int], paths: list[bytes]) -> (placed, errno)
 *       links fds[i] at paths[i] and closes it, in order; placed: how many were linked (and
 *       closed); errno: 0, or the error of fds[placed], which is left open for the caller.
 *
 * And the common case of nom.store.commit.arrays' check, which every array written through the store takes:
 *
 *   ascending_ids(objects: list, seen_types: set, max_id: int) -> (first_id, last_id) | None
 *       the bounds when every object is a dict whose "id" is an int (not a bool) from 0 to max_id,
 *       ids ascend (repeats allowed) and every "type" is a str in seen_types; None otherwise, and
 *       the caller's Python check takes over (it names what is wrong, or learns a new type).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int
as_bytes_array(PyObject *tuple, const char **ptrs, Py_ssize_t *lens)
{
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "item %zd must be bytes, not %.80s", i, Py_TYPE(item)->tp_name);
            return -1;
        }
        ptrs[i] = PyBytes_AS_STRING(item);
        if (lens != NULL)
            lens[i] = PyBytes_GET_SIZE(item);
    }
    return 0;
}

static PyObject *
write_unnamed(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *folders_in, *datas_in;
    int datasync;
    if (!PyArg_ParseTuple(args, "OOp", &folders_in, &datas_in, &datasync))
        return NULL;
    /* tuples: the lists could change under us while the lock is released */
    PyObject *folders = PySequence_Tuple(folders_in);
    PyObject *datas = folders ? PySequence_Tuple(datas_in) : NULL;
    PyObject *result = NULL;
    const char **dirs = NULL, **bufs = NULL;
    Py_ssize_t *lens = NULL;
    int *fds = NULL;
    if (datas == NULL)
        goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(datas);
    if (PyTuple_GET_SIZE(folders) != n) {
        PyErr_SetString(PyExc_ValueError, "folders and datas must have the same length");
        goto done;
    }
    dirs = PyMem_Malloc(sizeof(char *) * (n + 1));
    bufs = PyMem_Malloc(sizeof(char *) * (n + 1));
    lens = PyMem_Malloc(sizeof(Py_ssize_t) * (n + 1));
    fds = PyMem_Malloc(sizeof(int) * (n + 1));
    if (!dirs || !bufs || !lens || !fds) {
        PyErr_NoMemory();
        goto done;
    }
    if (as_bytes_array(folders, dirs, NULL) < 0 || as_bytes_array(datas, bufs, lens) < 0)
        goto done;

    Py_ssize_t opened = 0;
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && !err; i++) {
        int fd = open(dirs[i], O_WRONLY | O_TMPFILE | O_CLOEXEC, 0644);
        if (fd < 0) {
            err = errno;
            break;
        }
        const char *p = bufs[i];
        Py_ssize_t left = lens[i];
        while (left > 0) {
            ssize_t w = write(fd, p, (size_t)left);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                err = errno;
                break;
            }
            p += w;
            left -= w;
        }
        if (!err && datasync && fdatasync(fd) < 0)
            err = errno;
        if (err)
            close(fd); /* an unnamed file vanishes with its last fd: nothing is left behind */
        else
            fds[opened++] = fd;
    }
    Py_END_ALLOW_THREADS

    PyObject *list = PyList_New(opened);
    for (Py_ssize_t i = 0; list != NULL && i < opened; i++) {
        PyObject *fd = PyLong_FromLong(fds[i]);
        if (fd == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, fd);
    }
    result = list ? Py_BuildValue("(Ni)", list, err) : NULL;
    if (result == NULL) /* out of memory: no one will ever see these fds, so close them */
        for (Py_ssize_t i = 0; i < opened; i++)
            close(fds[i]);

done:
    PyMem_Free(dirs);
    PyMem_Free(bufs);
    PyMem_Free(lens);
    PyMem_Free(fds);
    Py_XDECREF(folders);
    Py_XDECREF(datas);
    return result;
}

static PyObject *
link_unnamed(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *fds_in, *paths_in;
    if (!PyArg_ParseTuple(args, "OO", &fds_in, &paths_in))
        return NULL;
    PyObject *fd_tuple = PySequence_Tuple(fds_in);
    PyObject *paths = fd_tuple ? PySequence_Tuple(paths_in) : NULL;
    PyObject *result = NULL;
    const char **dests = NULL;
    int *fds = NULL;
    if (paths == NULL)
        goto done;
    Py_ssize_t n = PyTuple_GET_SIZE(paths);
    if (PyTuple_GET_SIZE(fd_tuple) != n) {
        PyErr_SetString(PyExc_ValueError, "fds and paths must have the same length");
        goto done;
    }
    dests = PyMem_Malloc(sizeof(char *) * (n + 1));
    fds = PyMem_Malloc(sizeof(int) * (n + 1));
    if (!dests || !fds) {
        PyErr_NoMemory();
        goto done;
    }
    if (as_bytes_array(paths, dests, NULL) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        long fd = PyLong_AsLong(PyTuple_GET_ITEM(fd_tuple, i));
        if (fd == -1 && PyErr_Occurred())
            goto done;
        fds[i] = (int)fd;
    }

    Py_ssize_t placed = 0;
    int err = 0;
    Py_BEGIN_ALLOW_THREADS
    char proc[64];
    for (Py_ssize_t i = 0; i < n; i++) {
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fds[i]); /* resolved now: a forked child links its own */
        if (linkat(AT_FDCWD, proc, AT_FDCWD, dests[i], AT_SYMLINK_FOLLOW) < 0) {
            err = errno;
            break;
        }
        close(fds[i]);
        placed++;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(ni)", placed, err);

done:
    PyMem_Free(dests);
    PyMem_Free(fds);
    Py_XDECREF(fd_tuple);
    Py_XDECREF(paths);
    return result;
}

static PyObject *
ascending_ids(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *objects, *seen;
    long long max_id;
    if (!PyArg_ParseTuple(args, "O!O!L", &PyList_Type, &objects, &PySet_Type, &seen, &max_id))
        return NULL;
    static PyObject *id_key = NULL, *type_key = NULL, *data_key = NULL, *written_keys[2] = {NULL, NULL};
    if (id_key == NULL && ((id_key = PyUnicode_InternFromString("id")) == NULL ||
                           (type_key = PyUnicode_InternFromString("type")) == NULL ||
                           (data_key = PyUnicode_InternFromString("data")) == NULL ||
                           (written_keys[0] = PyUnicode_InternFromString("created_at")) == NULL ||
                           (written_keys[1] = PyUnicode_InternFromString("createdAt")) == NULL))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(objects);
    long long first = 0, last = -1;
    int any_written = 0; /* whether some object's data says when it was written (nom.written) */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *obj = PyList_GET_ITEM(objects, i);
        if (!PyDict_CheckExact(obj))
            Py_RETURN_NONE;
        PyObject *id = PyDict_GetItemWithError(obj, id_key); /* borrowed */
        if (id == NULL || !PyLong_CheckExact(id)) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(id, &overflow);
        if (overflow || value < 0 || value > max_id || value < last)
            Py_RETURN_NONE;
        PyObject *type = PyDict_GetItemWithError(obj, type_key);
        if (type == NULL || !PyUnicode_CheckExact(type)) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
        int known = PySet_Contains(seen, type);
        if (known < 0)
            return NULL;
        if (!known)
            Py_RETURN_NONE;
        if (i == 0)
            first = value;
        last = value;
        if (!any_written) {
            PyObject *data = PyDict_GetItemWithError(obj, data_key);
            if (data == NULL && PyErr_Occurred())
                return NULL;
            if (data != NULL && PyDict_CheckExact(data)) {
                for (int k = 0; k < 2 && !any_written; k++) {
                    if (PyDict_GetItemWithError(data, written_keys[k]) != NULL)
                        any_written = 1;
                    else if (PyErr_Occurred())
                        return NULL;
                }
            }
        }
    }
    if (n == 0)
        Py_RETURN_NONE;
    return Py_BuildValue("(LLO)", first, last, any_written ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"ascending_ids", ascending_ids, METH_VARARGS,
     "ascending_ids(objects, seen_types, max_id) -> (first_id, last_id, any_written) or None: the common case of a "
     "check; any_written: whether some object's data has created_at or createdAt."},
    {"write_unnamed", write_unnamed, METH_VARARGS,
     "write_unnamed(folders, datas, datasync) -> (fds, errno): an unnamed file per data, written."},
    {"link_unnamed", link_unnamed, METH_VARARGS,
     "link_unnamed(fds, paths) -> (placed, errno): link each fd at its path and close it, in order."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "nom.store.commit._unnamed",
                                    "Unnamed temp files, a group at a time (see nom.store.commit.files).", -1,
                                    methods};

PyMODINIT_FUNC
PyInit__unnamed(void)
{
    return PyModule_Create(&module);
}
